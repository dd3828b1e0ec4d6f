-- End-to-end test of editors/nvim in a real headless Neovim 0.11, run by tests/editors/neovim.sh:
--
--   nvim --headless --clean -u tests/editors/nvim/init.lua -c 'luafile tests/editors/nvim/test.lua'
--
-- with REFLENS_WORKSPACE (a copy of tests/editors/nvim/workspace) and REFLENS_RESULTS (where the
-- logs and captures go). Every step is checked; the script quits with :cquit on any failure.

local api = vim.api
local workspace = assert(vim.env.REFLENS_WORKSPACE, 'REFLENS_WORKSPACE is not set')
local results = assert(vim.env.REFLENS_RESULTS, 'REFLENS_RESULTS is not set')
local file = workspace .. '/leaky.py'

-- ---- a tiny harness ------------------------------------------------------------------------

local transcript = {}
local function log(fmt, ...)
  local line = select('#', ...) > 0 and fmt:format(...) or fmt
  table.insert(transcript, line)
  io.stdout:write(line .. '\n')
  io.stdout:flush()
end

local function save(name, text)
  if type(text) == 'table' then
    text = table.concat(text, '\n')
  end
  local f = assert(io.open(results .. '/' .. name, 'w'))
  f:write(text, '\n')
  f:close()
end

local passed, failed = 0, 0
local function step(name, fn)
  local started = vim.uv.hrtime()
  local ok, err = xpcall(fn, debug.traceback)
  local ms = (vim.uv.hrtime() - started) / 1e6
  if ok then
    passed = passed + 1
    log('ok    %-58s %6.0f ms', name, ms)
  else
    failed = failed + 1
    log('FAIL  %-58s %6.0f ms\n      %s', name, ms, tostring(err):gsub('\n', '\n      '))
  end
  return ok
end

local function expect(condition, message, ...)
  if not condition then
    error(select('#', ...) > 0 and message:format(...) or message, 2)
  end
end

local function wait_for(what, timeout_ms, condition)
  if not vim.wait(timeout_ms, condition, 25) then
    error(('timed out after %d ms waiting for %s'):format(timeout_ms, what), 2)
  end
end

-- What the plugin tells the user through vim.notify, recorded (and still shown).
local notifications = {}
local original_notify = vim.notify
vim.notify = function(message, level, opts)
  table.insert(notifications, { message = message, level = level })
  log('      notify[%s] %s', tostring(level), message)
  -- (not passed on: headless Neovim echoes messages to stderr without line breaks)
end

local function notified(pattern)
  for _, n in ipairs(notifications) do
    if n.message:find(pattern) then
      return true
    end
  end
  return false
end

local function lines()
  return api.nvim_buf_get_lines(0, 0, -1, false)
end

local function reflens_client()
  return vim.lsp.get_clients({ name = 'reflens', bufnr = 0 })[1]
end

local function reflens_diagnostics()
  local found = {}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    if d.source == 'reflens' then
      table.insert(found, d)
    end
  end
  table.sort(found, function(a, b)
    return a.lnum < b.lnum
  end)
  return found
end

local function diagnostic(code)
  for _, d in ipairs(reflens_diagnostics()) do
    if d.code == code then
      return d
    end
  end
end

local function floating_windows()
  local found = {}
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_config(win).relative ~= '' then
      table.insert(found, win)
    end
  end
  return found
end

local function close_floats()
  for _, win in ipairs(floating_windows()) do
    pcall(api.nvim_win_close, win, true)
  end
end

--- Puts the cursor at 1-based `row`, 0-based `col`, runs vim.lsp.buf.hover() as `K` does, and
--- returns the text of the float it opens once `accept(text)` holds.
local function hover_float(row, col, accept, timeout_ms)
  close_floats()
  api.nvim_win_set_cursor(0, { row, col })
  local text
  local deadline = vim.uv.now() + (timeout_ms or 5000)
  repeat
    close_floats()
    vim.lsp.buf.hover()
    vim.wait(2000, function()
      return #floating_windows() > 0
    end, 20)
    local win = floating_windows()[1]
    if win then
      text = table.concat(api.nvim_buf_get_lines(api.nvim_win_get_buf(win), 0, -1, false), '\n')
      if accept(text) then
        close_floats()
        return text
      end
    end
    vim.wait(200)
  until vim.uv.now() > deadline
  close_floats()
  error('the hover float never showed what was expected; last float:\n' .. tostring(text))
end

local reflens = require('reflens')

-- Every `reflens/liveState` notification in full (the notifications show only a first line).
local live_states = {}
api.nvim_create_autocmd('User', {
  pattern = 'ReflensLiveState',
  callback = function(args)
    table.insert(live_states, vim.inspect(args.data))
  end,
})

--- Waits for a live state (a notification after `since` in reflens.history).
local function wait_state(state, since, timeout_ms)
  wait_for(('live state %q (seen: %s)'):format(state, table.concat(reflens.history, ', ')), timeout_ms or 60000, function()
    for i = since + 1, #reflens.history do
      if reflens.history[i] == state then
        return true
      end
    end
    return false
  end)
end

local EXPECTED = {
  -- code, 0-based line, start column, end column (UTF-16 = bytes here), message fragment
  { 'RL103', 9, 25, 29, 'adds `self` to module-level list `_registry`' },
  { 'RL101', 11, 4, 38, '`lru_cache` on method `Widget.area`' },
  { 'RL401', 17, 8, 12, 'file `f` opened by `open(...)` is never closed in `read_config()`' },
}

-- ---- static features -------------------------------------------------------------------------

log('reflens end-to-end test in %s', tostring(vim.version()))
vim.cmd.edit(vim.fn.fnameescape(file))

step('the reflens server attaches to a Python buffer', function()
  wait_for('the reflens client', 15000, function()
    local client = reflens_client()
    return client ~= nil and client.initialized
  end)
  local client = reflens_client()
  expect(client.root_dir == workspace, 'root_dir is %s, expected the workspace %s', tostring(client.root_dir), workspace)
  expect(vim.fn.exists(':ReflensLiveStart') == 2, 'the buffer-local :ReflensLiveStart command is missing')
  log('      server %s %s, root %s', client.server_info and client.server_info.name or '?',
    client.server_info and client.server_info.version or '?', client.root_dir)
end)

step('diagnostics appear with the right codes and ranges', function()
  wait_for('three reflens diagnostics', 15000, function()
    return #reflens_diagnostics() >= 3
  end)
  local found = reflens_diagnostics()
  local dump = {}
  for _, d in ipairs(found) do
    table.insert(dump, ('%s %d:%d-%d:%d severity=%d %s'):format(d.code, d.lnum + 1, d.col + 1, d.end_lnum + 1, d.end_col + 1, d.severity, d.message))
  end
  save('diagnostics.txt', dump)
  expect(#found == #EXPECTED, 'expected %d diagnostics, got %d:\n%s', #EXPECTED, #found, table.concat(dump, '\n'))
  for i, want in ipairs(EXPECTED) do
    local d = found[i]
    expect(d.code == want[1], 'diagnostic %d: code %s, expected %s', i, tostring(d.code), want[1])
    expect(d.lnum == want[2] and d.end_lnum == want[2] and d.col == want[3] and d.end_col == want[4],
      '%s: range %d:%d-%d:%d, expected %d:%d-%d:%d', want[1], d.lnum, d.col, d.end_lnum, d.end_col, want[2], want[3], want[2], want[4])
    expect(d.message:find(want[5], 1, true), '%s: message %q lacks %q', want[1], d.message, want[5])
  end
end)

local function lens_titles()
  local titles = {}
  for _, lens in ipairs(vim.lsp.codelens.get(0)) do
    if lens.command then
      table.insert(titles, lens.command.title)
    end
  end
  return titles
end

step('code lens "▶ Run live session" shows above the __main__ block', function()
  wait_for('the run lens', 10000, function()
    return vim.tbl_contains(lens_titles(), '▶ Run live session')
  end)
  local lens = vim.lsp.codelens.get(0)[1]
  expect(lens.range.start.line == 27, 'the lens is on line %d', lens.range.start.line + 1)
  expect(lens.command.command == 'reflens.live.start', 'the lens runs %s', lens.command.command)
end)

step('hover (K) explains the finding under the cursor', function()
  local text = hover_float(18, 9, function(t)
    return t:find('RL401', 1, true) ~= nil
  end)
  save('hover.md', text)
  for _, fragment in ipairs({ 'RL401', 'unclosed-resource', 'is never closed in `read_config()`', 'Quick fix:', 'Open `f` in a `with` block' }) do
    expect(text:find(fragment, 1, true), 'the hover lacks %q:\n%s', fragment, text)
  end
end)

step('code action via vim.lsp.buf.code_action{apply=true} rewrites the buffer', function()
  api.nvim_win_set_cursor(0, { 18, 9 })
  local offered = {}
  vim.lsp.buf.code_action({
    apply = true,
    filter = function(action)
      table.insert(offered, action.title)
      return action.title == 'Open `f` in a `with` block'
    end,
  })
  wait_for('the `with` rewrite', 10000, function()
    return lines()[18] == '    with open(path, encoding="utf-8") as f:'
  end)
  save('code_actions_offered.txt', offered)
  expect(lines()[19] == '        return f.read()', 'line 19 is %q', lines()[19])
  expect(vim.tbl_contains(offered, 'Suppress RL401 on this line'), 'the suppression action was not offered: %s', vim.inspect(offered))
  wait_for('RL401 to disappear after the fix', 10000, function()
    return diagnostic('RL401') == nil and diagnostic('RL103') ~= nil
  end)
end)

step('code action via buf_request_sync + apply_workspace_edit suppresses RL103', function()
  local client = reflens_client()
  local d = assert(diagnostic('RL103'), 'no RL103 diagnostic')
  local params = {
    textDocument = vim.lsp.util.make_text_document_params(0),
    range = { start = { line = d.lnum, character = d.col }, ['end'] = { line = d.end_lnum, character = d.end_col } },
    context = { diagnostics = { d.user_data.lsp }, only = { 'quickfix' } },
  }
  local responses = vim.lsp.buf_request_sync(0, 'textDocument/codeAction', params, 5000)
  local chosen, titles = nil, {}
  for _, response in pairs(responses or {}) do
    for _, action in ipairs(response.result or {}) do
      table.insert(titles, action.title)
      if action.title == 'Suppress RL103 on this line' then
        chosen = action
      end
    end
  end
  expect(chosen and chosen.edit, 'no "Suppress RL103 on this line" action among %s', vim.inspect(titles))
  vim.lsp.util.apply_workspace_edit(chosen.edit, client.offset_encoding)
  expect(lines()[10] == '        _registry.append(self)  # reflens: ignore[RL103]', 'line 10 is %q', lines()[10])
  wait_for('RL103 to disappear after the suppression', 10000, function()
    return diagnostic('RL103') == nil and diagnostic('RL101') ~= nil
  end)
end)

step('the edited buffer is written as expected', function()
  vim.cmd('silent write')
  local expected = vim.fn.readfile(vim.env.REFLENS_EXPECTED_AFTER)
  local actual = vim.fn.readfile(file)
  save('leaky.after.py', actual)
  expect(vim.deep_equal(actual, expected), 'the file differs from %s:\n%s', vim.env.REFLENS_EXPECTED_AFTER,
    vim.diff(table.concat(expected, '\n') .. '\n', table.concat(actual, '\n') .. '\n'))
end)

-- ---- live session ----------------------------------------------------------------------------

local live_started = step(':ReflensLiveStart runs the file and reports its state', function()
  local since = #reflens.history
  vim.cmd('ReflensLiveStart')
  wait_state('finished', since, 60000)
  expect(notified('finished'), 'no vim.notify about the finished program')
  wait_for('the program output in the output buffer', 10000, function()
    return reflens.output_text():find('made 3 widgets', 1, true) ~= nil
  end)
  expect(api.nvim_buf_get_name(reflens.output_buffer()) == 'reflens://output', 'the output buffer is misnamed')
  save('live_states.txt', reflens.history)
  save('live_output.txt', reflens.output_text())
end)

local function refcount_of(text)
  return tonumber(text:match('%*%*(%d+)%*%* references?'))
end

step('hover shows the live refcount of a module global', function()
  expect(live_started, 'no live session')
  local text = hover_float(4, 0, function(t)
    return refcount_of(t) ~= nil or t:find('**live**', 1, true) ~= nil and not t:find('timed out', 1, true)
  end, 10000)
  save('live_hover_global.md', text)
  expect(text:find('**live** (finished)', 1, true), 'no live section in the hover:\n%s', text)
  local count = refcount_of(text)
  expect(count ~= nil, 'no refcount in the live hover:\n%s', text)
  expect(count >= 1, 'refcount %d', count)
  expect(text:find('_registry', 1, true), 'the hover does not name `_registry`:\n%s', text)
  log('      _registry: %d reference(s)', count)
end)

step(':ReflensInspect shows every live fact at the cursor', function()
  expect(live_started, 'no live session')
  api.nvim_win_set_cursor(0, { 4, 0 })
  reflens.last_result = nil
  vim.cmd('ReflensInspect')
  wait_for('the inspect result', 30000, function()
    return type(reflens.last_result) == 'table' and reflens.last_result.expression ~= nil
  end)
  local facts = reflens.last_result
  local float = floating_windows()[1]
  expect(float, 'no float with the facts')
  local text = table.concat(api.nvim_buf_get_lines(api.nvim_win_get_buf(float), 0, -1, false), '\n')
  save('live_inspect.md', text)
  close_floats()
  expect(facts.type and facts.type:find('list'), 'type %s', tostring(facts.type))
  expect(type(facts.refcount) == 'number' and facts.refcount >= 1, 'refcount %s', tostring(facts.refcount))
  expect(text:find('references?') ~= nil, 'the float lacks the refcount:\n%s', text)
end)

step(':ReflensGarbage shows the collector report', function()
  expect(live_started, 'no live session')
  reflens.last_result = nil
  vim.cmd('ReflensGarbage')
  wait_for('the garbage report', 60000, function()
    return type(reflens.last_result) == 'table' and reflens.last_result.unreachable ~= nil
  end)
  local buf = vim.fn.bufnr('reflens://garbage')
  expect(buf > 0, 'no reflens://garbage buffer')
  save('live_garbage.md', api.nvim_buf_get_lines(buf, 0, -1, false))
  vim.cmd('close')
end)

step(':ReflensGrowth finds what each call of make_widget keeps', function()
  expect(live_started, 'no live session')
  reflens.last_result = nil
  vim.cmd('ReflensGrowth leaky:make_widget 5')
  wait_for('the growth report', 120000, function()
    return type(reflens.last_result) == 'table' and reflens.last_result.types ~= nil
  end)
  local report = reflens.last_result
  local buf = vim.fn.bufnr('reflens://growth')
  expect(buf > 0, 'no reflens://growth buffer')
  save('live_growth.md', api.nvim_buf_get_lines(buf, 0, -1, false))
  vim.cmd('close')
  local widget
  for _, t in ipairs(report.types) do
    if t.type:find('Widget') then
      widget = t
    end
  end
  expect(widget and widget.per_call >= 1, 'Widget does not grow per call: %s', vim.inspect(report.types))
end)

step(':ReflensRunToLine pauses there; hover shows a local refcount', function()
  expect(live_started, 'no live session')
  local since = #reflens.history
  api.nvim_win_set_cursor(0, { 24, 4 }) -- sizes = [widget.area(n) ...]
  vim.cmd('ReflensRunToLine')
  wait_state('paused', since, 60000)
  local at = reflens.last_state.location
  expect(at and at.line == 23, 'paused at %s', vim.inspect(at))
  expect(notified('paused at leaky.py:24'), 'no vim.notify about the pause')
  local marks = api.nvim_buf_get_extmarks(0, api.nvim_get_namespaces().reflens_live, 0, -1, {})
  expect(#marks == 1 and marks[1][2] == 23, 'the paused line is not marked: %s', vim.inspect(marks))
  local text = hover_float(24, 16, function(t) -- `widget` in widget.area(n)
    return refcount_of(t) ~= nil
  end, 10000)
  save('live_hover_paused.md', text)
  expect(text:find('**live** (paused at leaky.py:24)', 1, true), 'no paused live section:\n%s', text)
  log('      widget (local of make_widget): %d reference(s)', refcount_of(text))
  wait_for('the "⏵ Continue" lens', 10000, function()
    return vim.tbl_contains(lens_titles(), '⏵ Continue')
  end)
end)

step(':ReflensContinue resumes, :ReflensLiveStop ends the session', function()
  expect(live_started, 'no live session')
  local since = #reflens.history
  vim.cmd('ReflensContinue')
  wait_state('running', since, 10000)
  since = #reflens.history
  vim.cmd('ReflensLiveStop')
  wait_state('exited', since, 15000)
  expect(reflens.status() == '', 'status after stop: %q', reflens.status())
  save('live_states.txt', reflens.history)
end)

-- ---- done ------------------------------------------------------------------------------------

io.stderr:write('\n')
log('%d passed, %d failed', passed, failed)
save('transcript.txt', transcript)
save('live_states_full.txt', live_states)
save('notifications.txt', vim.tbl_map(function(n)
  return ('[%s] %s'):format(tostring(n.level), n.message)
end, notifications))
if failed > 0 then
  vim.cmd('cquit 1')
else
  vim.cmd('qall!')
end

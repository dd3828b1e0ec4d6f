-- reflens for Neovim 0.11+: live-session user commands, state notifications and program output.
--
-- `lsp/reflens.lua` wires this module in: its handlers call `on_live_state`/`on_live_output`,
-- and its `on_attach` calls `on_attach`, which defines these buffer-local commands:
--
--   :ReflensLiveStart [target] [args…]  run target (default: this file) in a live session
--   :ReflensRunToLine [line]            run (or continue) until this line, then pause
--   :ReflensContinue                    resume a paused program
--   :ReflensLiveStop                    end the session
--   :ReflensInspect                     every live fact about the object under the cursor
--   :ReflensGrowth {module:function} [n] what grows on each of n calls (default 5)
--   :ReflensGarbage                     what the cyclic collector finds unreachable
--   :ReflensAttach [pid]                connect to a program that called reflens_agent.listen()
--   :ReflensOutput                      the program's output
--   :ReflensRule [code]                 a rule's documentation (default: the finding under the cursor)
--
-- Hover (K) shows the live facts (refcount, referrers, chain, sizes) while a session is
-- running, paused or finished. `require('reflens').status()` gives a short state for statuslines,
-- and a `User ReflensLiveState` autocommand fires on every state change (data: the notification).

local M = {}

local api = vim.api
local levels = vim.log.levels

--- Options (change with `require('reflens').setup({...})`).
M.config = {
  -- Show and refresh the server's code lenses ("▶ Run live session", "⏵ Continue", "■ Stop");
  -- run the one on the cursor line with `vim.lsp.codelens.run()`.
  codelens = true,
  -- Enable inlay hints in reflens buffers (refcounts beside module-level names while a session
  -- is paused or finished). Neovim's inlay hints are per buffer, for every server.
  inlay_hints = false,
  -- Echo the program's output with vim.notify as well as keeping it in the output buffer.
  notify_output = false,
}

--- The last `reflens/liveState` notification, and every state seen (oldest first).
M.last_state = nil
M.history = {}
--- The last result shown by :ReflensInspect, :ReflensGrowth, :ReflensGarbage.
M.last_result = nil

local ns = api.nvim_create_namespace('reflens_live')
local OUTPUT_NAME = 'reflens://output'

function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', M.config, opts or {})
end

local function notify(message, level)
  vim.notify('reflens: ' .. message, level or levels.INFO, { title = 'reflens' })
end

--- Runs `fn` now, or on the main loop when called from a fast (libuv) context.
local function on_main(fn)
  if vim.in_fast_event() then
    vim.schedule(fn)
  else
    fn()
  end
end

local function current(bufnr)
  if bufnr == nil or bufnr == 0 then
    return api.nvim_get_current_buf()
  end
  return bufnr
end

--- The reflens client of a buffer (or any reflens client).
function M.client(bufnr)
  local clients = vim.lsp.get_clients({ name = 'reflens', bufnr = current(bufnr) })
  if #clients == 0 then
    clients = vim.lsp.get_clients({ name = 'reflens' })
  end
  return clients[1]
end

--- Runs a server command (`workspace/executeCommand`) with one argument; calls
--- `on_result(result)` on success and reports errors with vim.notify.
function M.execute(command, argument, on_result, bufnr)
  bufnr = current(bufnr)
  local client = M.client(bufnr)
  if not client then
    notify('no reflens language server is running for this buffer (is `reflens` on your PATH?)', levels.ERROR)
    return
  end
  client:request('workspace/executeCommand', { command = command, arguments = { argument } }, function(err, result)
    if err then
      notify(('%s failed: %s'):format(command, err.message or vim.inspect(err)), levels.ERROR)
      return
    end
    if on_result then
      on_result(result)
    end
  end, bufnr)
end

local function file_name(uri_or_path)
  local path = uri_or_path
  if type(path) == 'string' and path:match('^file:') then
    path = vim.uri_to_fname(path)
  end
  return vim.fn.fnamemodify(path or '', ':t')
end

-- ---- live state --------------------------------------------------------------------------

local function first_line(text)
  if type(text) ~= 'string' or text == '' then
    return nil
  end
  return vim.split(text, '\n', { plain = true, trimempty = true })[1]
end

--- A one-line description of a state notification.
local function describe(state)
  local target = state.target and file_name(state.target) or 'the program'
  local detail = first_line(state.detail)
  local s = state.state
  if s == 'paused' and state.location then
    local at = state.location
    return ('paused at %s:%d in %s()'):format(file_name(at.uri), at.line + 1, at['function'] or '?'), levels.INFO
  elseif s == 'starting' then
    return 'live session starting' .. (detail and (' (' .. detail .. ')') or ''), levels.INFO
  elseif s == 'ready' then
    return 'live session ready' .. (detail and (' (' .. detail .. ')') or ''), levels.INFO
  elseif s == 'running' then
    return ('running %s'):format(state.target or target), levels.INFO
  elseif s == 'finished' then
    return ('%s finished%s; hover a name for its live facts'):format(target, detail and (': ' .. detail) or ''),
      levels.INFO
  elseif s == 'exited' then
    return ('live session ended%s'):format(detail and (': ' .. detail) or ''), levels.INFO
  elseif s == 'crashed' then
    return ('%s crashed%s (log: %s)'):format(target, detail and (': ' .. detail) or '', state.log or '?'), levels.ERROR
  end
  return ('live session %s'):format(tostring(s)), levels.INFO
end

--- Marks the line where a paused program stopped; clears the mark otherwise.
local function mark_paused(state)
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(buf) then
      api.nvim_buf_clear_namespace(buf, ns, 0, -1)
    end
  end
  if state.state ~= 'paused' or not state.location then
    return
  end
  local buf = vim.fn.bufnr(vim.uri_to_fname(state.location.uri))
  if buf > 0 and api.nvim_buf_is_loaded(buf) and state.location.line < api.nvim_buf_line_count(buf) then
    api.nvim_buf_set_extmark(buf, ns, state.location.line, 0, {
      virt_text = { { '◀ paused (reflens live session)', 'DiagnosticVirtualTextInfo' } },
      line_hl_group = 'CursorLine',
      sign_text = '▶',
      sign_hl_group = 'DiagnosticSignInfo',
    })
  end
end

--- Handler of `reflens/liveState`.
function M.on_live_state(_, state, _)
  if type(state) ~= 'table' then
    return
  end
  on_main(function()
    M.last_state = state
    table.insert(M.history, state.state)
    local message, level = describe(state)
    notify(message, level)
    mark_paused(state)
    api.nvim_exec_autocmds('User', { pattern = 'ReflensLiveState', data = state, modeline = false })
    if M.config.codelens then
      pcall(vim.lsp.codelens.refresh)
    end
  end)
end

--- A short state for statuslines: `reflens: paused leaky.py:24`, or '' without a session.
function M.status()
  local state = M.last_state
  if not state or state.state == 'exited' then
    return ''
  end
  if state.state == 'paused' and state.location then
    return ('reflens: paused %s:%d'):format(file_name(state.location.uri), state.location.line + 1)
  end
  return 'reflens: ' .. state.state
end

-- ---- program output ----------------------------------------------------------------------

--- The scratch buffer with the program's output (created on first use).
function M.output_buffer()
  if M._output and api.nvim_buf_is_valid(M._output) then
    return M._output
  end
  local buf = api.nvim_create_buf(false, true)
  pcall(api.nvim_buf_set_name, buf, OUTPUT_NAME)
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  M._output = buf
  return buf
end

--- The program's output so far, as one string.
function M.output_text()
  if not (M._output and api.nvim_buf_is_valid(M._output)) then
    return ''
  end
  return table.concat(api.nvim_buf_get_lines(M._output, 0, -1, false), '\n')
end

--- Handler of `reflens/liveOutput`.
function M.on_live_output(_, params, _)
  if type(params) ~= 'table' or type(params.text) ~= 'string' then
    return
  end
  on_main(function()
    local buf = M.output_buffer()
    local lines = vim.split(params.text, '\n', { plain = true })
    local last = api.nvim_buf_line_count(buf)
    local tail = api.nvim_buf_get_lines(buf, last - 1, last, false)[1] or ''
    lines[1] = tail .. lines[1]
    api.nvim_buf_set_lines(buf, last - 1, last, false, lines)
    for _, win in ipairs(vim.fn.win_findbuf(buf)) do
      api.nvim_win_set_cursor(win, { api.nvim_buf_line_count(buf), 0 })
    end
    if M.config.notify_output then
      notify(vim.trim(params.text))
    end
  end)
end

-- ---- reports ---------------------------------------------------------------------------

--- Shows `lines` in a scratch markdown buffer `reflens://<name>` in a split (`q` closes it).
local function show_report(name, lines)
  local bufname = 'reflens://' .. name
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_get_name(buf) == bufname then
      pcall(api.nvim_buf_delete, buf, { force = true })
    end
  end
  local buf = api.nvim_create_buf(false, true)
  pcall(api.nvim_buf_set_name, buf, bufname)
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].filetype = 'markdown'
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = 'wipe'
  vim.cmd('botright split')
  api.nvim_win_set_buf(0, buf)
  api.nvim_win_set_height(0, math.min(math.max(#lines, 3), math.floor(vim.o.lines / 2)))
  vim.keymap.set('n', 'q', '<cmd>close<cr>', { buffer = buf, nowait = true, desc = 'close' })
  return buf
end

local function bytes(count)
  count = tonumber(count) or 0
  local units = { 'B', 'KiB', 'MiB', 'GiB' }
  local value, unit = count, 1
  while value >= 1024 and unit < #units do
    value, unit = value / 1024, unit + 1
  end
  return unit == 1 and ('%d B'):format(count) or ('%.1f %s'):format(value, units[unit])
end

--- Markdown lines for `reflens.live.inspect`'s facts.
function M.facts_lines(facts)
  local lines = {
    ('# `%s` — %s · `%s`'):format(facts.expression or '?', facts.scope or '', facts.type or '?'),
    '',
  }
  if facts.refcount == nil or facts.refcount == vim.NIL then
    table.insert(lines, '- immortal object (its reference count never changes)')
  else
    table.insert(lines, ('- **%d** reference%s (`sys.getrefcount(x) - 1`, not counting reflens\'s own)'):format(
      facts.refcount, facts.refcount == 1 and '' or 's'))
  end
  if facts.referrers and #facts.referrers > 0 then
    table.insert(lines, '- referred to by:')
    for _, r in ipairs(facts.referrers) do
      table.insert(lines, ('  - %s%s'):format(r.description or vim.inspect(r), (r.count or 1) > 1 and (' ×' .. r.count) or ''))
    end
  end
  if facts.chain and #facts.chain > 0 then
    local steps = {}
    for _, step in ipairs(facts.chain) do
      table.insert(steps, step.description or vim.inspect(step))
    end
    table.insert(lines, '- kept alive by: ' .. table.concat(steps, ' → '))
  end
  table.insert(lines, ('- size %s · deep %s · retained %s'):format(bytes(facts.size), bytes(facts.deep_size), bytes(facts.retained_size)))
  local traits = {}
  if facts.in_cycle then
    table.insert(traits, 'in a reference cycle')
  end
  if facts.uncollectable then
    table.insert(traits, '**uncollectable** (in `gc.garbage`)')
  end
  table.insert(traits, facts.weakrefable and 'weak-referenceable' or 'not weak-referenceable')
  table.insert(lines, '- ' .. table.concat(traits, ' · '))
  if type(facts.tensor) == 'table' then
    local t = facts.tensor
    table.insert(lines, ('- tensor on `%s`, `%s`, %s%s'):format(t.device or '?', t.dtype or '?', bytes(t.bytes),
      t.has_grad_fn and ', with autograd history' or ''))
  end
  table.insert(lines, '- repr: `' .. tostring(facts['repr'] or ''):gsub('`', "'") .. '`')
  return lines
end

--- Markdown lines for a growth report.
function M.growth_lines(report)
  local lines = { ('# Growth of `%s` over %s calls'):format(report.target or '?', tostring(report.iterations or '?')), '' }
  if not report.types or #report.types == 0 then
    table.insert(lines, 'Nothing grew on every call.')
  else
    table.insert(lines, '## Types that grow on every call')
    for _, t in ipairs(report.types) do
      local counts = {}
      for _, c in ipairs(t.counts or {}) do
        table.insert(counts, tostring(c))
      end
      table.insert(lines, ('- `%s`: +%s per call (live: %s)%s'):format(t.type, tostring(t.per_call), table.concat(counts, ', '),
        t.gc_tracked == false and ' — not tracked by the cyclic GC' or ''))
    end
  end
  if report.sites and #report.sites > 0 then
    table.insert(lines, '')
    table.insert(lines, '## Where the new objects are allocated')
    for _, site in ipairs(report.sites) do
      table.insert(lines, ('- %s:%d: %s new `%s` per call'):format(vim.fn.fnamemodify(site.file, ':~:.'), site.line, tostring(site.per_call), site.type))
    end
  end
  if report.retainers and #report.retainers > 0 then
    table.insert(lines, '')
    table.insert(lines, '## What keeps them alive')
    for _, r in ipairs(report.retainers) do
      table.insert(lines, ('- %s (%s of the last call\'s new objects)'):format(r.description, tostring(r.new_objects)))
    end
  end
  return lines
end

--- Markdown lines for a garbage report.
function M.garbage_lines(report)
  local lines = { ('# Garbage: %s unreachable object(s)'):format(tostring(report.unreachable or 0)), '' }
  if report.by_type and #report.by_type > 0 then
    table.insert(lines, '## By type')
    for _, entry in ipairs(report.by_type) do
      table.insert(lines, ('- `%s`: %s'):format(tostring(entry[1]), tostring(entry[2])))
    end
  end
  if report.cycles and #report.cycles > 0 then
    table.insert(lines, '')
    table.insert(lines, '## Reference cycles')
    for i, cycle in ipairs(report.cycles) do
      table.insert(lines, ('%d. %s object(s)%s: %s'):format(i, tostring(cycle.size), cycle.has_finalizer and ', with a finalizer' or '',
        table.concat(cycle.members or {}, ' → ')))
    end
  end
  if report.with_finalizers and #report.with_finalizers > 0 then
    table.insert(lines, '')
    table.insert(lines, '## With finalizers (`__del__` or `weakref.finalize`)')
    for _, name in ipairs(report.with_finalizers) do
      table.insert(lines, '- ' .. name)
    end
  end
  return lines
end

-- ---- commands ----------------------------------------------------------------------------

--- An absolute target when it names a file relative to Neovim's working directory.
local function absolute_target(target)
  local path, node = target:match('^(.-)(::.*)$')
  path = path or target
  if path ~= '' and vim.fn.filereadable(path) == 1 then
    return vim.fn.fnamemodify(path, ':p') .. (node or '')
  end
  return target
end

function M.live_start(bufnr, fargs)
  bufnr = current(bufnr)
  fargs = fargs or {}
  local target, args
  if fargs[1] == '-m' and fargs[2] then
    target, args = '-m ' .. fargs[2], vim.list_slice(fargs, 3)
  elseif fargs[1] then
    target, args = absolute_target(fargs[1]), vim.list_slice(fargs, 2)
  else
    target, args = api.nvim_buf_get_name(bufnr), {}
    if vim.bo[bufnr].modified then
      notify('the buffer has unsaved changes: the session runs the file on disk', levels.WARN)
    end
  end
  M.execute('reflens.live.start', { target = target, args = args }, function(result)
    M.last_result = result
  end, bufnr)
end

function M.run_to_line(bufnr, line)
  bufnr = current(bufnr)
  line = line or api.nvim_win_get_cursor(0)[1]
  M.execute('reflens.live.runToLine', { uri = vim.uri_from_bufnr(bufnr), line = line - 1 }, nil, bufnr)
end

function M.continue(bufnr)
  bufnr = current(bufnr)
  M.execute('reflens.live.continue', { uri = vim.uri_from_bufnr(bufnr) }, nil, bufnr)
end

function M.stop(bufnr)
  bufnr = current(bufnr)
  M.execute('reflens.live.stop', { uri = vim.uri_from_bufnr(bufnr) }, nil, bufnr)
end

function M.inspect(bufnr)
  bufnr = current(bufnr)
  local client = M.client(bufnr)
  if not client then
    return M.execute('reflens.live.inspect', {}, nil, bufnr) -- reports the missing server
  end
  local position = vim.lsp.util.make_position_params(0, client.offset_encoding).position
  M.execute('reflens.live.inspect', { uri = vim.uri_from_bufnr(bufnr), position = position }, function(facts)
    M.last_result = facts
    vim.lsp.util.open_floating_preview(M.facts_lines(facts), 'markdown', {
      border = 'rounded',
      focus_id = 'reflens_inspect',
      max_width = math.floor(vim.o.columns * 0.8),
    })
  end, bufnr)
end

function M.growth(bufnr, target, iterations)
  bufnr = current(bufnr)
  if not target or target == '' then
    notify('usage: :ReflensGrowth module:function [iterations]', levels.ERROR)
    return
  end
  notify(('calling %s %d times…'):format(target, iterations or 5))
  M.execute('reflens.live.growth', { target = target, iterations = iterations or 5 }, function(report)
    M.last_result = report
    show_report('growth', M.growth_lines(report))
  end, bufnr)
end

function M.garbage(bufnr)
  bufnr = current(bufnr)
  M.execute('reflens.live.garbage', { uri = vim.uri_from_bufnr(bufnr) }, function(report)
    M.last_result = report
    show_report('garbage', M.garbage_lines(report))
  end, bufnr)
end

function M.attach(bufnr, pid)
  bufnr = current(bufnr)
  local argument = pid and { pid = pid } or vim.empty_dict()
  M.execute('reflens.live.attach', argument, function(result)
    M.last_result = result
    notify(('attached to process %s'):format(tostring(result and result.pid)))
  end, bufnr)
end

function M.rule(bufnr, code)
  bufnr = current(bufnr)
  if not code or code == '' then
    local row = api.nvim_win_get_cursor(0)[1] - 1
    for _, d in ipairs(vim.diagnostic.get(bufnr, { lnum = row })) do
      if type(d.code) == 'string' and d.code:match('^RL%d+$') then
        code = d.code
        break
      end
    end
  end
  if not code then
    notify('usage: :ReflensRule RL101 (or put the cursor on a finding)', levels.ERROR)
    return
  end
  M.execute('reflens.rule', { code = code }, function(result)
    M.last_result = result
    show_report(result.code or code, vim.split(result.markdown or '', '\n', { plain = true }))
  end, bufnr)
end

function M.show_output()
  local buf = M.output_buffer()
  vim.cmd('botright split')
  api.nvim_win_set_buf(0, buf)
  api.nvim_win_set_cursor(0, { api.nvim_buf_line_count(buf), 0 })
end

--- Defines the buffer-local commands and turns on code lenses (see M.config).
function M.on_attach(client, bufnr)
  local function command(name, fn, opts)
    opts.force = true
    api.nvim_buf_create_user_command(bufnr, name, fn, opts)
  end
  command('ReflensLiveStart', function(o)
    M.live_start(bufnr, o.fargs)
  end, { nargs = '*', complete = 'file', desc = 'reflens: run a script, module:function, -m module or pytest node in a live session' })
  command('ReflensRunToLine', function(o)
    M.run_to_line(bufnr, tonumber(o.args) or (o.range > 0 and o.line1) or nil)
  end, { nargs = '?', range = true, desc = 'reflens: run until this line, then pause' })
  command('ReflensContinue', function()
    M.continue(bufnr)
  end, { desc = 'reflens: resume the paused program' })
  command('ReflensLiveStop', function()
    M.stop(bufnr)
  end, { desc = 'reflens: end the live session' })
  command('ReflensInspect', function()
    M.inspect(bufnr)
  end, { desc = 'reflens: live facts about the object under the cursor' })
  command('ReflensGrowth', function(o)
    M.growth(bufnr, o.fargs[1], tonumber(o.fargs[2]))
  end, { nargs = '+', desc = 'reflens: what grows on every call of module:function' })
  command('ReflensGarbage', function()
    M.garbage(bufnr)
  end, { desc = 'reflens: unreachable objects and reference cycles' })
  command('ReflensAttach', function(o)
    M.attach(bufnr, tonumber(o.args))
  end, { nargs = '?', desc = 'reflens: attach to a program that called reflens_agent.listen()' })
  command('ReflensOutput', function()
    M.show_output()
  end, { desc = "reflens: the live program's output" })
  command('ReflensRule', function(o)
    M.rule(bufnr, o.args ~= '' and o.args or nil)
  end, { nargs = '?', desc = "reflens: a rule's documentation" })

  if M.config.codelens and client:supports_method('textDocument/codeLens') then
    local group = api.nvim_create_augroup('reflens_codelens_' .. bufnr, { clear = true })
    api.nvim_create_autocmd({ 'BufEnter', 'InsertLeave', 'BufWritePost' }, {
      group = group,
      buffer = bufnr,
      callback = function()
        pcall(vim.lsp.codelens.refresh, { bufnr = bufnr })
      end,
    })
    pcall(vim.lsp.codelens.refresh, { bufnr = bufnr })
  end
  if M.config.inlay_hints and client:supports_method('textDocument/inlayHint') then
    vim.lsp.inlay_hint.enable(true, { bufnr = bufnr })
  end
end

return M

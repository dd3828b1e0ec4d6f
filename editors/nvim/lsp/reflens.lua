-- reflens: a language server for Python memory leaks. Set-up: docs/editors/neovim.md.
--
-- The configuration for Neovim 0.11's `vim.lsp.config`, in the form nvim-lspconfig uses for its
-- `lsp/<name>.lua` files. Put the directory holding this file (editors/nvim) on 'runtimepath',
-- then:
--
--   vim.lsp.enable('reflens')
--
-- Override any field with `vim.lsp.config('reflens', { ... })` (tables are merged, so
-- `settings = { reflens = { ignore = { 'RL201' } } }` keeps the rest).
--
-- The live-session user commands (:ReflensLiveStart, :ReflensRunToLine, ...) are defined for
-- each attached buffer by `require('reflens').on_attach`, which `on_attach` below calls; if you
-- set your own `on_attach`, call it from yours.

---@type vim.lsp.Config
return {
  cmd = { 'reflens', 'server' },
  filetypes = { 'python' },
  -- The closest of these upward from the file is the workspace root (live sessions run there,
  -- and use its .venv/venv interpreter if it has one).
  root_markers = { 'pyproject.toml', 'reflens.toml', '.reflens.toml', 'setup.py', 'setup.cfg', '.git' },
  -- Sent as `workspace/didChangeConfiguration` and answered for `workspace/configuration`
  -- (section `reflens`). They apply on top of the project's [tool.reflens] / reflens.toml.
  settings = {
    reflens = {
      -- select = { 'ALL' },          -- rules to run: codes, prefixes (RL4) or names
      -- extendSelect = {},           -- rules added to the selection
      -- ignore = {},                 -- rules removed, e.g. { 'RL201' }
      live = {
        -- python = '/path/to/python', -- interpreter when the workspace has no .venv/venv
        inlayHints = true, -- refcounts beside module-level names while a session is paused/finished
      },
    },
  },
  -- What a live session tells the editor: its state, and the program's output.
  handlers = {
    ['reflens/liveState'] = function(err, result, ctx)
      local ok, reflens = pcall(require, 'reflens')
      if ok then
        return reflens.on_live_state(err, result, ctx)
      end
      vim.notify(('reflens: live session %s'):format(result and result.state or '?'))
    end,
    ['reflens/liveOutput'] = function(err, result, ctx)
      local ok, reflens = pcall(require, 'reflens')
      if ok then
        return reflens.on_live_output(err, result, ctx)
      end
    end,
    -- The server asks for fresh code lenses ("⏵ Continue", "■ Stop") when a session changes;
    -- Neovim 0.11 has no default handler for this request.
    ['workspace/codeLens/refresh'] = function(_, _, ctx)
      for _, bufnr in ipairs(vim.lsp.get_buffers_by_client_id(ctx.client_id)) do
        pcall(vim.lsp.codelens.refresh, { bufnr = bufnr })
      end
      return vim.NIL
    end,
  },
  on_attach = function(client, bufnr)
    local ok, reflens = pcall(require, 'reflens')
    if ok then
      reflens.on_attach(client, bufnr)
    end
  end,
}

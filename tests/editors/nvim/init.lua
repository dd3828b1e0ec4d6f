-- The Neovim configuration of the end-to-end test: what a user's init.lua does with
-- editors/nvim (see docs/editors/neovim.md), and nothing else. `reflens` is found on PATH
-- (tests/editors/neovim.sh puts target/release first).
local here = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
local root = vim.fn.fnamemodify(here, ':h:h:h')

vim.opt.runtimepath:prepend(root .. '/editors/nvim')
vim.lsp.log.set_level(vim.env.REFLENS_NVIM_LSP_LOG_LEVEL or 'info')
vim.lsp.enable('reflens')

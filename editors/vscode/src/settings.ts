// The `reflens.*` settings as the server reads them (initialization options, the `reflens`
// section of `workspace/configuration`, `workspace/didChangeConfiguration`). No `vscode` import.

/** What the server understands (`ClientSettings` in server/reflens/src/lsp/session.rs). */
export interface ServerSettings {
  /** Omitted when empty: the configuration files decide. */
  select?: string[];
  extendSelect: string[];
  ignore: string[];
  live: {
    /** Omitted when empty: the workspace's venv, else `python3`. */
    python?: string;
    inlayHints: boolean;
  };
}

/** Reads one setting below `reflens.` (`select`, `live.python`, …). */
export type SettingReader = (key: string) => unknown;

export function selectors(value: unknown): string[] {
  if (typeof value === 'string') {
    value = value.split(',');
  }
  if (!Array.isArray(value)) {
    return [];
  }
  return value
    .filter((item): item is string => typeof item === 'string')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** The settings to send to the server. An empty `select` means "not set" (the server would
 *  otherwise select no rule at all). */
export function toServerSettings(get: SettingReader): ServerSettings {
  const select = selectors(get('select'));
  const python = get('live.python');
  const inlayHints = get('live.inlayHints');
  const settings: ServerSettings = {
    extendSelect: selectors(get('extendSelect')),
    ignore: selectors(get('ignore')),
    live: { inlayHints: typeof inlayHints === 'boolean' ? inlayHints : true },
  };
  if (select.length > 0) {
    settings.select = select;
  }
  if (typeof python === 'string' && python.trim().length > 0) {
    settings.live.python = python.trim();
  }
  return settings;
}

/** The answer to one `workspace/configuration` item: `reflens` gets the server's shape, its
 *  subsections their part of it, anything else what VS Code answered. */
export function configurationAnswer(section: string | undefined, settings: ServerSettings, fallback: unknown): unknown {
  switch (section) {
    case 'reflens':
      return settings;
    case 'reflens.live':
      return settings.live;
    case 'reflens.select':
      return settings.select ?? null;
    case 'reflens.extendSelect':
      return settings.extendSelect;
    case 'reflens.ignore':
      return settings.ignore;
    default:
      return fallback;
  }
}

/** The payload of `workspace/didChangeConfiguration` (the server accepts `{"reflens": {...}}`). */
export function didChangeConfigurationParams(settings: ServerSettings): { settings: { reflens: ServerSettings } } {
  return { settings: { reflens: settings } };
}

/** Settings whose change needs a new server process rather than a notification. */
export const RESTART_SETTINGS = ['reflens.path'];

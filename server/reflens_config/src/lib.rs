//! reflens configuration.
//!
//! Settings live in `reflens.toml` / `.reflens.toml` (top-level keys) or in `pyproject.toml`
//! under `[tool.reflens]`. For a file, the closest configuration in its directory or a parent
//! directory applies (no merging, as in ruff). The CLI and the language server both resolve
//! settings through [`Resolver`], so a file gets the same rules from both.
//!
//! ```toml
//! [tool.reflens]
//! select = ["RL1", "RL401"]      # default: ALL
//! extend-select = []
//! ignore = ["RL201"]
//! exclude = ["build"]           # replaces the default excludes
//! extend-exclude = ["generated"]
//!
//! [tool.reflens.per-file-ignores]
//! "tests/**" = ["RL401"]
//! "__init__.py" = ["RL103"]
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use reflens_analysis::{RuleSelector, RuleSet, Settings};
use serde::Deserialize;

/// The names of configuration files, in order of precedence within one directory.
pub const CONFIG_FILES: &[&str] = &["reflens.toml", ".reflens.toml", "pyproject.toml"];

/// Directories skipped when walking a tree (like ruff's defaults); files named explicitly on
/// the command line are always checked.
pub const DEFAULT_EXCLUDES: &[&str] = &[
    ".bzr",
    ".direnv",
    ".eggs",
    ".git",
    ".git-rewrite",
    ".hg",
    ".ipynb_checkpoints",
    ".mypy_cache",
    ".nox",
    ".pants.d",
    ".pyenv",
    ".pytest_cache",
    ".pytype",
    ".ruff_cache",
    ".svn",
    ".tox",
    ".venv",
    ".vscode",
    "__pypackages__",
    "_build",
    "buck-out",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
];

/// The options as written in a configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Options {
    pub select: Option<Vec<String>>,
    pub extend_select: Option<Vec<String>>,
    pub ignore: Option<Vec<String>>,
    pub per_file_ignores: Option<BTreeMap<String, Vec<String>>>,
    pub exclude: Option<Vec<String>>,
    pub extend_exclude: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Pyproject {
    tool: Option<PyprojectTool>,
}

#[derive(Debug, Deserialize)]
struct PyprojectTool {
    reflens: Option<Options>,
}

/// Selections given outside configuration files: command-line flags, editor settings.
/// `select` replaces the file's `select`; `extend_select` and `ignore` add to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub select: Option<Vec<RuleSelector>>,
    pub extend_select: Vec<RuleSelector>,
    pub ignore: Vec<RuleSelector>,
}

impl Overrides {
    /// Parses selector strings (e.g. from editor settings).
    pub fn parse(
        select: Option<&[String]>,
        extend_select: &[String],
        ignore: &[String],
    ) -> Result<Self, ConfigError> {
        let parse_all = |items: &[String]| -> Result<Vec<RuleSelector>, ConfigError> {
            items
                .iter()
                .map(|item| {
                    item.parse()
                        .map_err(|err: reflens_analysis::registry::UnknownSelector| {
                            ConfigError::Invalid {
                                path: None,
                                message: err.to_string(),
                            }
                        })
                })
                .collect()
        };
        Ok(Self {
            select: select.map(parse_all).transpose()?,
            extend_select: parse_all(extend_select)?,
            ignore: parse_all(ignore)?,
        })
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{}: {message}", path.as_ref().map_or_else(|| "settings".to_owned(), |p| p.display().to_string()))]
    Invalid {
        path: Option<PathBuf>,
        message: String,
    },
}

/// The configuration that applies to the files under one directory.
#[derive(Debug)]
pub struct Configuration {
    /// The file it was read from; `None` for the defaults.
    pub source: Option<PathBuf>,
    /// The directory globs are relative to.
    pub root: PathBuf,
    rules: RuleSet,
    per_file_ignores: Vec<(GlobMatcher, Option<GlobMatcher>, RuleSet)>,
    exclude: GlobSet,
}

impl Configuration {
    /// Builds a configuration from parsed options.
    pub fn from_options(
        options: &Options,
        source: Option<PathBuf>,
        root: PathBuf,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: source.clone(),
            message,
        };
        let parse =
            |items: &Option<Vec<String>>, key: &str| -> Result<Vec<RuleSelector>, ConfigError> {
                items
                    .iter()
                    .flatten()
                    .map(|item| {
                        item.parse()
                            .map_err(|err| invalid(format!("`{key}`: {err}")))
                    })
                    .collect()
            };
        let union = |selectors: &[RuleSelector]| {
            selectors.iter().fold(RuleSet::empty(), |set, selector| {
                set.union(selector.rules())
            })
        };

        let mut rules = match (&overrides.select, &options.select) {
            (Some(select), _) => union(select),
            (None, Some(_)) => union(&parse(&options.select, "select")?),
            (None, None) => RuleSet::all(),
        };
        rules = rules
            .union(union(&parse(&options.extend_select, "extend-select")?))
            .union(union(&overrides.extend_select))
            .difference(union(&parse(&options.ignore, "ignore")?))
            .difference(union(&overrides.ignore));

        let mut per_file_ignores = Vec::new();
        for (pattern, codes) in options.per_file_ignores.iter().flatten() {
            let selectors = parse(&Some(codes.clone()), "per-file-ignores")?;
            let full = glob(&root.join(pattern).to_string_lossy()).map_err(|err| {
                invalid(format!(
                    "`per-file-ignores`: bad pattern `{pattern}`: {err}"
                ))
            })?;
            // A pattern without a slash also matches a file name anywhere (`__init__.py`).
            let name = if pattern.contains('/') {
                None
            } else {
                Some(glob(pattern).map_err(|err| {
                    invalid(format!(
                        "`per-file-ignores`: bad pattern `{pattern}`: {err}"
                    ))
                })?)
            };
            per_file_ignores.push((full, name, union(&selectors)));
        }

        let mut exclude = GlobSetBuilder::new();
        let excludes: Vec<String> = match &options.exclude {
            Some(list) => list.clone(),
            None => DEFAULT_EXCLUDES.iter().map(|s| (*s).to_owned()).collect(),
        };
        for pattern in excludes
            .iter()
            .chain(options.extend_exclude.iter().flatten())
        {
            let add = |builder: &mut GlobSetBuilder, text: &str| -> Result<(), ConfigError> {
                let glob = Glob::new(text)
                    .map_err(|err| invalid(format!("bad exclude pattern `{pattern}`: {err}")))?;
                builder.add(glob);
                Ok(())
            };
            if pattern.contains('/') {
                add(&mut exclude, &root.join(pattern).to_string_lossy())?;
            } else {
                add(&mut exclude, pattern)?;
            }
        }
        let exclude = exclude
            .build()
            .map_err(|err| invalid(format!("bad exclude patterns: {err}")))?;

        Ok(Self {
            source,
            root,
            rules,
            per_file_ignores,
            exclude,
        })
    }

    /// The defaults, for files with no configuration file above them.
    pub fn defaults(root: PathBuf, overrides: &Overrides) -> Self {
        Self::from_options(&Options::default(), None, root, overrides)
            .expect("default options are valid")
    }

    /// The rules selected for every file under this configuration.
    pub fn rules(&self) -> RuleSet {
        self.rules
    }

    /// The analysis settings for one file (per-file ignores applied).
    pub fn settings_for(&self, path: &Path) -> Settings {
        let mut rules = self.rules;
        let name = path.file_name().map(Path::new);
        for (full, name_glob, ignored) in &self.per_file_ignores {
            let matches = full.is_match(path)
                || name_glob
                    .as_ref()
                    .is_some_and(|glob| name.is_some_and(|name| glob.is_match(name)));
            if matches {
                rules = rules.difference(*ignored);
            }
        }
        Settings::with_rules(rules)
    }

    /// Whether a directory or file met while walking a tree is excluded.
    pub fn is_excluded(&self, path: &Path) -> bool {
        self.exclude.is_match(path)
            || path
                .file_name()
                .is_some_and(|name| self.exclude.is_match(Path::new(name)))
    }
}

fn glob(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()?
        .compile_matcher())
}

/// Reads the options in one configuration file; `Ok(None)` for a `pyproject.toml` without a
/// `[tool.reflens]` table.
pub fn read_options(path: &Path) -> Result<Option<Options>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Read {
        path: path.to_owned(),
        message: err.to_string(),
    })?;
    parse_options(&text, path)
}

/// Parses the text of a configuration file named `path`.
pub fn parse_options(text: &str, path: &Path) -> Result<Option<Options>, ConfigError> {
    let invalid = |err: toml::de::Error| ConfigError::Invalid {
        path: Some(path.to_owned()),
        message: err.to_string().trim_end().to_owned(),
    };
    if path
        .file_name()
        .is_some_and(|name| name == "pyproject.toml")
    {
        let pyproject: Pyproject = toml::from_str(text).map_err(invalid)?;
        Ok(pyproject.tool.and_then(|tool| tool.reflens))
    } else {
        toml::from_str(text).map(Some).map_err(invalid)
    }
}

/// Finds and caches the configuration for each directory.
#[derive(Debug)]
pub struct Resolver {
    overrides: Overrides,
    /// A configuration file named explicitly (`--config`): it applies to every file.
    explicit: Option<Arc<Configuration>>,
    cache: Mutex<HashMap<PathBuf, Result<Arc<Configuration>, ConfigError>>>,
}

impl Resolver {
    pub fn new(overrides: Overrides) -> Self {
        Self {
            overrides,
            explicit: None,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Uses one configuration file for every file, instead of discovering them.
    pub fn with_config_file(overrides: Overrides, path: &Path) -> Result<Self, ConfigError> {
        let options = read_options(path)?.unwrap_or_default();
        let root = path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        let configuration =
            Configuration::from_options(&options, Some(path.to_owned()), root, &overrides)?;
        Ok(Self {
            overrides,
            explicit: Some(Arc::new(configuration)),
            cache: Mutex::new(HashMap::new()),
        })
    }

    pub fn overrides(&self) -> &Overrides {
        &self.overrides
    }

    /// Forgets cached configurations (a configuration file changed).
    pub fn invalidate(&self) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The configuration for a file or directory: the closest configuration file at or
    /// above it, or the defaults.
    pub fn configuration_for(&self, path: &Path) -> Result<Arc<Configuration>, ConfigError> {
        if let Some(explicit) = &self.explicit {
            return Ok(explicit.clone());
        }
        let start = if path.is_dir() {
            path.to_owned()
        } else {
            path.parent().map(Path::to_owned).unwrap_or_default()
        };
        self.for_directory(&start)
    }

    /// The analysis settings for one file.
    pub fn settings_for(&self, path: &Path) -> Result<Settings, ConfigError> {
        Ok(self.configuration_for(path)?.settings_for(path))
    }

    /// The analysis settings for a path known to be a file (no file-system check).
    pub fn settings_for_file(&self, path: &Path) -> Result<Settings, ConfigError> {
        if let Some(explicit) = &self.explicit {
            return Ok(explicit.settings_for(path));
        }
        let dir = path.parent().map(Path::to_owned).unwrap_or_default();
        Ok(self.for_directory(&dir)?.settings_for(path))
    }

    /// The configuration for the files in a directory known to be one.
    pub fn configuration_for_directory(
        &self,
        dir: &Path,
    ) -> Result<Arc<Configuration>, ConfigError> {
        match &self.explicit {
            Some(explicit) => Ok(explicit.clone()),
            None => self.for_directory(dir),
        }
    }

    fn for_directory(&self, dir: &Path) -> Result<Arc<Configuration>, ConfigError> {
        if let Some(cached) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(dir)
        {
            return cached.clone();
        }
        let result = self.discover(dir);
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir.to_owned(), result.clone());
        result
    }

    fn discover(&self, dir: &Path) -> Result<Arc<Configuration>, ConfigError> {
        for name in CONFIG_FILES {
            let candidate = dir.join(name);
            if candidate.is_file()
                && let Some(options) = read_options(&candidate)?
            {
                let configuration = Configuration::from_options(
                    &options,
                    Some(candidate),
                    dir.to_owned(),
                    &self.overrides,
                )?;
                return Ok(Arc::new(configuration));
            }
        }
        match dir.parent() {
            Some(parent) if parent != dir && !parent.as_os_str().is_empty() => {
                self.for_directory(parent)
            }
            _ => Ok(Arc::new(Configuration::defaults(
                dir.to_owned(),
                &self.overrides,
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reflens_analysis::Rule;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn defaults_select_everything() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "a.py", "");
        let settings = Resolver::new(Overrides::default())
            .settings_for(&file)
            .unwrap();
        assert_eq!(settings.rules, RuleSet::all());
    }

    #[test]
    fn pyproject_select_ignore_and_per_file_ignores() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "pyproject.toml",
            r#"
[project]
name = "x"

[tool.reflens]
select = ["RL1", "RL4"]
ignore = ["RL104"]

[tool.reflens.per-file-ignores]
"tests/**" = ["RL401"]
"__init__.py" = ["RL103"]
"#,
        );
        let resolver = Resolver::new(Overrides::default());
        let app = write(dir.path(), "app/service.py", "");
        let rules = resolver.settings_for(&app).unwrap().rules;
        assert!(rules.contains(Rule::MethodCache));
        assert!(rules.contains(Rule::UnclosedResource));
        assert!(!rules.contains(Rule::MutableDefaultCache));
        assert!(!rules.contains(Rule::DelFinalizer));

        let test = write(dir.path(), "tests/deep/test_x.py", "");
        assert!(
            !resolver
                .settings_for(&test)
                .unwrap()
                .rules
                .contains(Rule::UnclosedResource)
        );
        let init = write(dir.path(), "app/__init__.py", "");
        assert!(
            !resolver
                .settings_for(&init)
                .unwrap()
                .rules
                .contains(Rule::InstanceRegistry)
        );
    }

    #[test]
    fn closest_configuration_wins_and_pyproject_without_section_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "reflens.toml", "select = [\"RL201\"]\n");
        write(
            dir.path(),
            "sub/pyproject.toml",
            "[project]\nname = \"sub\"\n",
        );
        write(dir.path(), "other/reflens.toml", "ignore = [\"RL201\"]\n");
        let resolver = Resolver::new(Overrides::default());
        let in_sub = write(dir.path(), "sub/x.py", "");
        assert_eq!(
            resolver
                .settings_for(&in_sub)
                .unwrap()
                .rules
                .iter()
                .collect::<Vec<_>>(),
            vec![Rule::DelFinalizer]
        );
        let in_other = write(dir.path(), "other/x.py", "");
        let rules = resolver.settings_for(&in_other).unwrap().rules;
        assert!(!rules.contains(Rule::DelFinalizer) && rules.contains(Rule::MethodCache));
    }

    #[test]
    fn overrides_apply_on_top() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "reflens.toml", "select = [\"RL1\"]\n");
        let overrides =
            Overrides::parse(None, &["RL401".to_owned()], &["RL101".to_owned()]).unwrap();
        let file = write(dir.path(), "x.py", "");
        let rules = Resolver::new(overrides).settings_for(&file).unwrap().rules;
        assert!(rules.contains(Rule::UnclosedResource));
        assert!(!rules.contains(Rule::MethodCache));
        assert!(rules.contains(Rule::InstanceRegistry));
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "reflens.toml", "select = [\"RL999\"]\n");
        let file = write(dir.path(), "x.py", "");
        let err = Resolver::new(Overrides::default())
            .settings_for(&file)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("reflens.toml") && text.contains("RL999"),
            "{text}"
        );

        write(dir.path(), "reflens.toml", "selct = [\"RL101\"]\n");
        let err = Resolver::new(Overrides::default())
            .settings_for(&file)
            .unwrap_err();
        assert!(err.to_string().contains("selct"), "{err}");
    }

    #[test]
    fn default_excludes() {
        let configuration = Configuration::defaults(PathBuf::from("/p"), &Overrides::default());
        assert!(configuration.is_excluded(Path::new("/p/.venv")));
        assert!(configuration.is_excluded(Path::new("/p/lib/site-packages")));
        assert!(!configuration.is_excluded(Path::new("/p/src")));
    }
}

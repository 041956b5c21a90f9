//! The corporate design: a theme folder with `theme.toml` (product name, colours, font,
//! footer links, frame ancestors), an optional `logo.svg` or `logo.png`, an optional
//! `extra.css`, and optional `texts.en.toml` / `texts.de.toml` overriding any word.
//!
//! Colours and the font become CSS custom properties in `/depot/theme.css` (a stylesheet of
//! its own: the Content-Security-Policy allows no inline styles). Every value is checked at
//! start, so a theme cannot inject CSS or markup.

use std::collections::BTreeMap;
use std::path::Path;

use keyport_core::Lang;
use serde::{Deserialize, Serialize};

/// The largest logo taken, in bytes.
const MAX_LOGO: u64 = 512 * 1024;
/// The largest extra stylesheet taken, in bytes.
const MAX_CSS: u64 = 256 * 1024;

/// A loaded, checked theme.
#[derive(Debug, Clone)]
pub struct Theme {
    /// The product (or company) name in the header and the page titles.
    pub product_name: String,
    /// Links in the footer (imprint, privacy, ...).
    pub footer: Vec<FooterLink>,
    /// The logo's bytes and content type.
    pub logo: Option<(Vec<u8>, &'static str)>,
    /// The extra stylesheet, served after the built-in one.
    pub extra_css: Option<String>,
    /// The generated stylesheet of custom properties.
    pub css: String,
    /// Words that replace the built-in ones, per language.
    pub texts: BTreeMap<&'static str, BTreeMap<String, String>>,
}

/// A link in the footer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FooterLink {
    /// Its English label.
    pub en: String,
    /// Its German label (the English one when absent).
    pub de: Option<String>,
    /// Where it goes (`https://...` or a path).
    pub url: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ThemeFile {
    product_name: Option<String>,
    colors: Colors,
    font_family: Option<String>,
    footer: Vec<FooterLink>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Colors {
    primary: String,
    on_primary: String,
    background: String,
    surface: String,
    text: String,
    muted: String,
    error: String,
}

impl Default for Colors {
    fn default() -> Self {
        // Contrast (WCAG AA): text on background 15.9:1, on_primary on primary 7.4:1,
        // muted on surface 5.7:1, error on surface 6.5:1.
        Colors {
            primary: "#1d4ed8".to_owned(),
            on_primary: "#ffffff".to_owned(),
            background: "#f5f6f8".to_owned(),
            surface: "#ffffff".to_owned(),
            text: "#111827".to_owned(),
            muted: "#4b5563".to_owned(),
            error: "#b91c1c".to_owned(),
        }
    }
}

const DEFAULT_FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

impl Default for Theme {
    fn default() -> Self {
        Theme::build(ThemeFile::default(), None, None, BTreeMap::new()).unwrap_or_else(|_| Theme {
            product_name: "Keyport".to_owned(),
            footer: Vec::new(),
            logo: None,
            extra_css: None,
            css: String::new(),
            texts: BTreeMap::new(),
        })
    }
}

impl Theme {
    /// Loads a theme folder; every problem is named with its file.
    pub fn load(folder: &Path) -> Result<Theme, String> {
        let read = |name: &str, max: u64| -> Result<Option<Vec<u8>>, String> {
            let path = folder.join(name);
            match std::fs::metadata(&path) {
                Err(_) => Ok(None),
                Ok(meta) if meta.len() > max => Err(format!("{}: larger than {max} bytes", path.display())),
                Ok(_) => std::fs::read(&path).map(Some).map_err(|e| format!("{}: {e}", path.display())),
            }
        };
        let text = |name: &str| -> Result<Option<String>, String> {
            read(name, MAX_CSS)?
                .map(|bytes| String::from_utf8(bytes).map_err(|_| format!("{name}: not UTF-8")))
                .transpose()
        };
        let file: ThemeFile = match text("theme.toml")? {
            Some(source) => toml::from_str(&source).map_err(|e| format!("theme.toml: {e}"))?,
            None => ThemeFile::default(),
        };
        let logo = match (read("logo.svg", MAX_LOGO)?, read("logo.png", MAX_LOGO)?) {
            (Some(svg), _) => Some((svg, "image/svg+xml")),
            (None, Some(png)) => Some((png, "image/png")),
            (None, None) => None,
        };
        let mut texts = BTreeMap::new();
        for (lang, name) in [("en", "texts.en.toml"), ("de", "texts.de.toml")] {
            if let Some(source) = text(name)? {
                let words: BTreeMap<String, String> =
                    toml::from_str(&source).map_err(|e| format!("{name}: {e}"))?;
                if let Some(key) = crate::texts::unknown_key(&words) {
                    return Err(format!("{name}: '{key}' is not a text of the depot"));
                }
                texts.insert(lang, words);
            }
        }
        Theme::build(file, logo, text("extra.css")?, texts)
    }

    fn build(
        file: ThemeFile,
        logo: Option<(Vec<u8>, &'static str)>,
        extra_css: Option<String>,
        texts: BTreeMap<&'static str, BTreeMap<String, String>>,
    ) -> Result<Theme, String> {
        let c = &file.colors;
        let mut css = String::from(":root {\n");
        for (name, value) in [
            ("primary", &c.primary),
            ("on-primary", &c.on_primary),
            ("background", &c.background),
            ("surface", &c.surface),
            ("text", &c.text),
            ("muted", &c.muted),
            ("error", &c.error),
        ] {
            if !is_color(value) {
                return Err(format!("theme.toml: colors.{name} must be a hex colour like #1d4ed8"));
            }
            css.push_str(&format!("  --kp-{name}: {value};\n"));
        }
        let font = file.font_family.as_deref().unwrap_or(DEFAULT_FONT);
        if font.is_empty()
            || font.len() > 200
            || !font.chars().all(|ch| ch.is_alphanumeric() || " ,-_'\"".contains(ch))
        {
            return Err(
                "theme.toml: font_family may hold letters, digits, spaces, commas, dashes and quotes"
                    .to_owned(),
            );
        }
        css.push_str(&format!("  --kp-font: {font};\n}}\n"));
        for link in &file.footer {
            let safe = link.url.starts_with("https://")
                || link.url.starts_with("http://")
                || link.url.starts_with('/');
            if !safe || link.url.chars().any(|ch| ch.is_control() || ch == '"' || ch == ' ') {
                return Err(format!(
                    "theme.toml: footer link '{}' must be an http(s) URL or a path",
                    link.en
                ));
            }
        }
        let product_name = file.product_name.unwrap_or_else(|| "Keyport".to_owned());
        if product_name.trim().is_empty() || product_name.chars().count() > 80 {
            return Err("theme.toml: product_name must have 1 to 80 characters".to_owned());
        }
        Ok(Theme { product_name, footer: file.footer, logo, extra_css, css, texts })
    }

    /// The overrides of one language.
    pub(crate) fn texts_of(&self, lang: Lang) -> BTreeMap<String, String> {
        let key = match lang {
            Lang::En => "en",
            Lang::De => "de",
        };
        self.texts.get(key).cloned().unwrap_or_default()
    }
}

fn is_color(value: &str) -> bool {
    value
        .strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 4 | 6 | 8) && hex.chars().all(|ch| ch.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_theme_folder_is_loaded_and_checked() {
        let dir = std::env::temp_dir().join(format!("keyport-theme-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("theme.toml"),
            "product_name = \"ACME CAD\"\n[colors]\nprimary = \"#aa0000\"\n[[footer]]\nen = \"Imprint\"\nde = \"Impressum\"\nurl = \"https://acme.example/imprint\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("texts.de.toml"), "login_title = \"Willkommen\"\n").unwrap();
        let theme = Theme::load(&dir).unwrap();
        assert_eq!(theme.product_name, "ACME CAD");
        assert!(theme.css.contains("--kp-primary: #aa0000;"));
        assert_eq!(theme.texts_of(Lang::De)["login_title"], "Willkommen");
        std::fs::write(dir.join("theme.toml"), "[colors]\nprimary = \"red;} body{display:none\"\n").unwrap();
        assert!(Theme::load(&dir).unwrap_err().contains("colors.primary"));
        std::fs::write(dir.join("theme.toml"), "").unwrap();
        std::fs::write(dir.join("texts.en.toml"), "login_titel = \"x\"\n").unwrap();
        assert!(Theme::load(&dir).unwrap_err().contains("login_titel"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Option tables whose every key is declared once, with its doc and its default (as DataFusion's
//! `config_namespace!` does): serde's defaults, `Default`, and the reference `pophub validate
//! --options` prints all come from the declaration.

/// One option as the reference lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionDoc {
    pub key: &'static str,
    pub default: String,
    pub doc: &'static str,
}

/// Declares an options struct: each field `/// doc` `pub name: Type = default,`.
macro_rules! options {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])+
                pub $field:ident : $ty:ty = $default:expr,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $( $(#[doc = $doc])+ pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        impl $name {
            /// Every option with its default and doc.
            pub fn reference() -> Vec<$crate::config::options::OptionDoc> {
                let defaults = Self::default();
                vec![$(
                    $crate::config::options::OptionDoc {
                        key: stringify!($field),
                        default: format!("{:?}", defaults.$field),
                        doc: concat!($($doc),+).trim_ascii(),
                    },
                )*]
            }
        }
    };
}

pub(crate) use options;

/// The reference of every option table, as text: `[table] key = default  doc`.
pub fn render(tables: &[(&str, Vec<OptionDoc>)]) -> String {
    let mut out = String::new();
    for (table, options) in tables {
        out.push_str(&format!("[{table}]\n"));
        for o in options {
            out.push_str(&format!("  {} = {}\n      {}\n", o.key, o.default, o.doc));
        }
    }
    out
}

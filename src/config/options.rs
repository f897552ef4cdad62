//! Option tables whose every key is declared once, with its doc and its default (as DataFusion's
//! `config_namespace!` does): serde's defaults, `Default`, and the JSON Schema (hence the
//! reference page `pophub schema pipeline` prints) all come from the declaration.

/// Declares an options struct: each field `/// doc` (and any `#[schemars(…)]`) `pub name: Type = default,`.
macro_rules! options {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])+
                pub $field:ident : $ty:ty = $default:expr,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $( $(#[$field_meta])+ pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }
    };
}

pub(crate) use options;

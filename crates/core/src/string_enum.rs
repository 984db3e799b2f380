//! Enums whose every variant has one fixed string form, shared by JSON (serde), the OpenAPI
//! document (utoipa, with the `openapi` feature) and the database's text columns. One
//! declaration lists each variant with its string, so the three cannot drift apart.

use std::fmt;

/// A string that names no variant of the enum it was parsed as (a stored value this build
/// does not know, or a typo in a request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVariant {
    /// The enum, e.g. `Severity`.
    pub type_name: &'static str,
    pub value: String,
}

impl fmt::Display for UnknownVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a known {}", self.value, self.type_name)
    }
}

impl std::error::Error for UnknownVariant {}

/// What every enum declared with `string_enum!` offers, for code that handles any of them
/// (query parameters, tests over every variant).
pub trait StringEnum: Sized + Copy + 'static {
    /// Every variant, in declaration order.
    const ALL: &'static [Self];
    /// The string form: what the API sends and the database stores.
    fn as_str(self) -> &'static str;
    /// The variant named by its string form.
    fn parse(text: &str) -> Option<Self>;
}

/// Declares a fieldless enum with `Variant => "string"` pairs. It derives serde (with each
/// variant renamed to its string), `ToSchema` under the `openapi` feature, ordering in
/// declaration order, and adds `ALL`, `as_str`, `parse` (also as [`StringEnum`]),
/// `Display`, `FromStr` and `TryFrom<String>` (so a database row can decode the column straight into the enum).
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident => $text:tt, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        $vis enum $name {
            $( $(#[$variant_meta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The string form: what the API sends and the database stores.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The variant named by its string form.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl $crate::string_enum::StringEnum for $name {
            const ALL: &'static [$name] = $name::ALL;

            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }

            fn parse(text: &str) -> Option<Self> {
                $name::parse(text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::string_enum::UnknownVariant;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text).ok_or_else(|| $crate::string_enum::UnknownVariant {
                    type_name: stringify!($name),
                    value: text.to_owned(),
                })
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::string_enum::UnknownVariant;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                text.parse()
            }
        }
    };
}

pub(crate) use string_enum;

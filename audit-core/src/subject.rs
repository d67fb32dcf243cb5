//! The id of a subject as the trail stores it.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A subject's id as the trail stores it (the `subject_id` columns): the text form of the
/// record's primary key. This type is the one place that defines that form:
///
/// - a key of one column: a string as it is, any other value as its JSON text (`42`,
///   `true`; a UUID is a JSON string, so it is its hyphenated text);
/// - a composite key: the JSON array of its values in key order (`[1,"en"]`).
///
/// `#[derive(Audited)]` builds it from the model's key ([`Audited::subject_id`]); the
/// read API takes anything `Display` (an `i32` key, a `&str`, a `SubjectId`).
///
/// ```
/// use audit_core::SubjectId;
/// assert_eq!(SubjectId::from_key(&7).unwrap(), "7");
/// assert_eq!(SubjectId::from_key("a/b").unwrap(), "a/b");
/// assert_eq!(SubjectId::from_key(&(1, "en")).unwrap().as_str(), r#"[1,"en"]"#);
/// ```
///
/// [`Audited::subject_id`]: crate::Audited::subject_id
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "A subject's id as the trail stores it: the text form of its key.")
)]
#[serde(transparent)]
pub struct SubjectId(String);

impl SubjectId {
    /// An id from its stored text, as it is.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The id of a record whose key is `key`: one value, or a tuple of the values of a
    /// composite key in key order. Fails when the key does not serialize.
    pub fn from_key<K: Serialize + ?Sized>(key: &K) -> serde_json::Result<Self> {
        Ok(match serde_json::to_value(key)? {
            Value::Array(parts) => Self::from_key_values(parts),
            one => Self::from_key_values([one]),
        })
    }

    /// The id of a record from the JSON values of its key columns, in key order.
    pub fn from_key_values(values: impl IntoIterator<Item = Value>) -> Self {
        let mut values: Vec<Value> = values.into_iter().collect();
        if values.len() == 1 {
            return match values.pop() {
                Some(Value::String(s)) => Self(s),
                Some(other) => Self(other.to_string()),
                None => unreachable!("one value"),
            };
        }
        Self(Value::Array(values).to_string())
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stored text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for SubjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl AsRef<str> for SubjectId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for SubjectId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<String> for SubjectId {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl From<&str> for SubjectId {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl From<SubjectId> for String {
    fn from(id: SubjectId) -> Self {
        id.0
    }
}

impl PartialEq<str> for SubjectId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for SubjectId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for SubjectId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<SubjectId> for str {
    fn eq(&self, other: &SubjectId) -> bool {
        self == other.0
    }
}

impl PartialEq<SubjectId> for &str {
    fn eq(&self, other: &SubjectId) -> bool {
        *self == other.0
    }
}

impl PartialEq<SubjectId> for String {
    fn eq(&self, other: &SubjectId) -> bool {
        *self == other.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_text_form_for_every_key() {
        assert_eq!(SubjectId::from_key_values([json!(42)]), "42");
        assert_eq!(SubjectId::from_key_values([json!("a/b")]), "a/b");
        assert_eq!(
            SubjectId::from_key_values([json!(1), json!("en")]),
            r#"[1,"en"]"#
        );
        assert_eq!(
            SubjectId::from_key(&(1, "en")).unwrap(),
            SubjectId::from_key_values([json!(1), json!("en")])
        );
        // Stored and read back as a plain JSON string.
        assert_eq!(json!(SubjectId::new("7")), json!("7"));
    }

    #[test]
    fn a_key_that_does_not_serialize_is_an_error() {
        let key = std::collections::HashMap::from([(vec![1u8], 1)]);
        assert!(SubjectId::from_key(&key).is_err());
    }
}

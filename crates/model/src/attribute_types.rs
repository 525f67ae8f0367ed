//! PLACEHOLDER — being written (see the helper brief). Interface only.

/// One MISP attribute type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeType {
    pub name: &'static str,
    pub default_category: &'static str,
    pub to_ids: bool,
}

/// One MISP category and the types it allows, in MISP's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Category {
    pub name: &'static str,
    pub types: &'static [&'static str],
}

pub static ATTRIBUTE_TYPES: &[AttributeType] = &[];
pub static CATEGORIES: &[Category] = &[];

pub fn attribute_type(name: &str) -> Option<&'static AttributeType> {
    ATTRIBUTE_TYPES.iter().find(|t| t.name == name)
}

pub fn category(name: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|c| c.name == name)
}

pub fn category_allows(category_name: &str, type_name: &str) -> bool {
    category(category_name).is_some_and(|c| c.types.contains(&type_name))
}

pub fn is_composite(type_name: &str) -> bool {
    type_name.contains('|') || type_name == "malware-sample"
}

//! WHERE clauses built at run time with their bound values (searches, sighting listings):
//! placeholders numbered as values are added, so one text serves both backends.

use crate::Dialect;

pub(crate) enum Bind {
    Int(i64),
    Text(String),
}

/// Binds every value collected in `$sql` to `$query`, in placeholder order.
macro_rules! bind_all {
    ($query:expr, $sql:expr) => {{
        let mut query = $query;
        for bind in &$sql.binds {
            query = match bind {
                $crate::sql::Bind::Int(value) => query.bind(*value),
                $crate::sql::Bind::Text(value) => query.bind(value.as_str()),
            };
        }
        query
    }};
}
pub(crate) use bind_all;

/// Conditions (joined with AND) and the values their placeholders stand for.
pub(crate) struct Sql {
    pub(crate) dialect: Dialect,
    pub(crate) conditions: Vec<String>,
    pub(crate) binds: Vec<Bind>,
}

impl Sql {
    pub(crate) fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            conditions: Vec::new(),
            binds: Vec::new(),
        }
    }

    pub(crate) fn int(&mut self, value: i64) -> String {
        self.binds.push(Bind::Int(value));
        format!("${}", self.binds.len())
    }

    pub(crate) fn text(&mut self, value: &str) -> String {
        self.binds.push(Bind::Text(value.to_string()));
        format!("${}", self.binds.len())
    }

    /// Placeholders for a list, comma-separated.
    pub(crate) fn ints(&mut self, values: &[i64]) -> String {
        values
            .iter()
            .map(|value| self.int(*value))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) fn texts(&mut self, values: &[String]) -> String {
        values
            .iter()
            .map(|value| self.text(value))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) fn push(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    /// `column IN (…)` for a non-empty list; nothing for an empty one.
    pub(crate) fn int_in(&mut self, column: &str, values: &[i64]) {
        if !values.is_empty() {
            let params = self.ints(values);
            self.push(format!("{column} IN ({params})"));
        }
    }

    pub(crate) fn text_in(&mut self, column: &str, values: &[String]) {
        if !values.is_empty() {
            let params = self.texts(values);
            self.push(format!("{column} IN ({params})"));
        }
    }

    pub(crate) fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }

    /// Case-insensitive equality, the way MISP's MySQL collation compares values. Written so
    /// each backend can use its value index (`COLLATE NOCASE` / `lower()`).
    pub(crate) fn text_equals(&mut self, column: &str, value: &str) -> String {
        let param = self.text(value);
        match self.dialect {
            Dialect::Sqlite => format!("{column} = {param} COLLATE NOCASE"),
            Dialect::Postgres => format!("lower({column}) = lower({param})"),
        }
    }

    /// Case-insensitive LIKE (SQLite's LIKE already folds ASCII).
    pub(crate) fn text_like(&mut self, column: &str, pattern: &str) -> String {
        let param = self.text(pattern);
        match self.dialect {
            Dialect::Sqlite => format!("{column} LIKE {param}"),
            Dialect::Postgres => format!("lower({column}) LIKE lower({param})"),
        }
    }
}

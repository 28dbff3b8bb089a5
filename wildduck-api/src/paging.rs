//! WildDuck's list paging: `limit` (1–250, default 20), opaque `next`/`previous` cursors,
//! an informational `page`, and `total`. A cursor is the hex of the sort key of the row it
//! starts after (`next`) or before (`previous`), so pages stay stable when rows are added.

use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::input::{Input, validation_error};

pub struct PageRequest {
    limit: usize,
    next: Option<String>,
    previous: Option<String>,
    page: u64,
}

impl PageRequest {
    /// Reads the paging fields; problems go into `input` like any other field's.
    pub fn read(input: &mut Input) -> Self {
        let limit = input.integer("limit", 1, 250).unwrap_or(20) as usize;
        let page = input.integer("page", 1, u64::MAX >> 11).unwrap_or(1);
        let mut cursor = |name: &str| {
            input
                .string_max(name, 1024)
                .map(|text| text.trim().to_string())
                .filter(|text| !text.is_empty())
        };
        let next = cursor("next");
        let previous = cursor("previous");
        Self {
            limit,
            next,
            previous,
            page,
        }
    }

    /// One page of `rows`, which must be sorted by `key` (unique per row).
    pub fn apply<T>(&self, rows: Vec<T>, key: impl Fn(&T) -> &str) -> ApiResult<Page<T>> {
        let total = rows.len();
        let (start, end) = if let Some(cursor) = &self.next {
            let after = decode_cursor("next", cursor)?;
            let start = rows.partition_point(|row| key(row) <= after.as_str());
            (start, (start + self.limit).min(total))
        } else if let Some(cursor) = &self.previous {
            let before = decode_cursor("previous", cursor)?;
            let end = rows.partition_point(|row| key(row) < before.as_str());
            (end.saturating_sub(self.limit), end)
        } else {
            (0, self.limit.min(total))
        };
        let previous_cursor = (start > 0).then(|| encode_cursor(key(&rows[start])));
        let next_cursor = (end < total && end > start).then(|| encode_cursor(key(&rows[end - 1])));
        let rows = rows.into_iter().skip(start).take(end - start).collect();
        Ok(Page {
            rows,
            total,
            page: self.page,
            previous_cursor,
            next_cursor,
        })
    }
}

pub struct Page<T> {
    pub rows: Vec<T>,
    total: usize,
    page: u64,
    previous_cursor: Option<String>,
    next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// WildDuck's listing fields around `results`; a missing cursor is `false`.
    pub fn response(&self, query: &str, results: Vec<Value>) -> Value {
        let cursor = |c: &Option<String>| c.clone().map_or(Value::Bool(false), Value::String);
        json!({
            "query": query,
            "total": self.total,
            "page": self.page,
            "previousCursor": cursor(&self.previous_cursor),
            "nextCursor": cursor(&self.next_cursor),
            "results": results,
        })
    }
}

fn encode_cursor(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(name: &str, cursor: &str) -> ApiResult<String> {
    let invalid = || validation_error(name, format!("\"{name}\" is not a valid cursor"));
    if !cursor.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(cursor.get(i..i + 2).ok_or_else(invalid)?, 16).map_err(|_| invalid())
        })
        .collect::<ApiResult<Vec<u8>>>()?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn request(fields: Value) -> PageRequest {
        let Value::Object(map) = fields else {
            panic!("object expected")
        };
        let mut input = Input::new(map);
        let request = PageRequest::read(&mut input);
        assert!(input.finish().is_ok());
        request
    }

    #[test]
    fn next_and_previous_walk_the_rows_without_gaps_or_repeats() {
        let rows: Vec<String> = (0..7).map(|i| format!("row{i}")).collect();
        let first = request(json!({"limit": "3"}))
            .apply(rows.clone(), |r| r)
            .unwrap();
        assert_eq!(first.rows, ["row0", "row1", "row2"]);
        assert_eq!(first.previous_cursor, None);
        let next = first.next_cursor.clone().unwrap();
        let second = request(json!({"limit": 3, "next": next}))
            .apply(rows.clone(), |r| r)
            .unwrap();
        assert_eq!(second.rows, ["row3", "row4", "row5"]);
        let next = second.next_cursor.clone().unwrap();
        let third = request(json!({"limit": 3, "next": next}))
            .apply(rows.clone(), |r| r)
            .unwrap();
        assert_eq!(third.rows, ["row6"]);
        assert_eq!(third.next_cursor, None);
        let back = third.previous_cursor.clone().unwrap();
        let again = request(json!({"limit": 3, "previous": back}))
            .apply(rows, |r| r)
            .unwrap();
        assert_eq!(again.rows, ["row3", "row4", "row5"]);
    }

    #[test]
    fn bad_limits_and_cursors_are_input_errors() {
        let mut input = Input::new(Map::from_iter([("limit".to_string(), json!(-1))]));
        PageRequest::read(&mut input);
        assert!(input.finish().is_err());
        let page = request(json!({"next": "zz"}));
        assert!(page.apply(vec!["a".to_string()], |r| r).is_err());
    }
}

//! JSON helpers shared by the modules that read and write JSON text: error descriptions, the nesting
//! depth check, and number text (also the digits of written times). A leaf module: it depends on
//! nothing else in the crate.

/// Where a JSON text went wrong. Written here rather than with serde_json's `Display`, which pulls in
/// the formatting of every I/O error kind (a parse from a string never has one).
pub(crate) fn error_text(text: &str, error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    if nesting_depth(text) > MAX_DEPTH {
        return format!("it is nested more than {MAX_DEPTH} levels deep");
    }
    let what = match error.classify() {
        Category::Eof => "it ends too early",
        Category::Syntax => "syntax error",
        Category::Data | Category::Io => "unexpected data",
    };
    format!("{what} at line {} column {}", error.line(), error.column())
}

/// serde_json refuses deeper nesting (its recursion limit), which keeps the stack safe.
pub(crate) const MAX_DEPTH: usize = 127;

/// Whether a JSON text nests arrays and objects no deeper than [`MAX_DEPTH`]. Counting the opening
/// brackets first (strings included) is a cheap bound that settles nearly every text; only a text with
/// more brackets than that pays the exact walk.
pub(crate) fn within_depth(text: &str) -> bool {
    let brackets = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
    brackets <= MAX_DEPTH || nesting_depth(text) <= MAX_DEPTH
}

/// The deepest nesting of arrays and objects in a JSON text, strings skipped.
pub(crate) fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A JSON number as text, through serde_json's serializer: `Number`'s `Display` formats floats with
/// core's formatter, which would add 14 KB to the module for the same digits.
pub(crate) fn number_text(n: &serde_json::Number) -> String {
    serde_json::to_string(n).unwrap_or_default()
}

/// `n` in decimal, zero-padded to at least `width` digits, written without `format!`'s machinery
/// (written times and the integers of results are on every event's path).
pub(crate) fn push_decimal(out: &mut String, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for _ in digits.len() - at..width {
        out.push('0');
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

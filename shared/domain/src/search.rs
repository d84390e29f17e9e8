//! Keyword search without a search engine: every product title is cut into terms when the
//! product is written (Chinese as single characters and character pairs, other words as
//! lowercase prefixes), and a query is answered by intersecting the terms' posting lists.

use std::collections::BTreeSet;

/// Longest query we take; a longer one is a client bug or abuse, not a shopper.
pub const MAX_QUERY_CHARS: usize = 40;
/// Prefixes of a Latin word are indexed up to this length ("iph" finds "iphone").
const MAX_PREFIX_CHARS: usize = 12;

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

enum Run {
    Cjk(Vec<char>),
    Word(String),
}

fn runs(text: &str) -> Vec<Run> {
    let mut out = Vec::new();
    let mut cjk = Vec::new();
    let mut word = String::new();
    let flush = |cjk: &mut Vec<char>, word: &mut String, out: &mut Vec<Run>| {
        if !cjk.is_empty() {
            out.push(Run::Cjk(std::mem::take(cjk)));
        }
        if !word.is_empty() {
            out.push(Run::Word(std::mem::take(word)));
        }
    };
    for c in text.chars() {
        if is_cjk(c) {
            if !word.is_empty() {
                flush(&mut Vec::new(), &mut word, &mut out);
            }
            cjk.push(c);
        } else if c.is_alphanumeric() {
            if !cjk.is_empty() {
                flush(&mut cjk, &mut String::new(), &mut out);
            }
            word.extend(c.to_lowercase());
        } else {
            flush(&mut cjk, &mut word, &mut out);
        }
    }
    flush(&mut cjk, &mut word, &mut out);
    out
}

/// The terms a product title is indexed under.
pub fn index_terms(text: &str) -> BTreeSet<String> {
    let mut terms = BTreeSet::new();
    for run in runs(text) {
        match run {
            Run::Cjk(chars) => {
                for (i, c) in chars.iter().enumerate() {
                    terms.insert(c.to_string());
                    if let Some(next) = chars.get(i + 1) {
                        terms.insert(format!("{c}{next}"));
                    }
                }
            }
            Run::Word(word) => {
                let chars: Vec<char> = word.chars().collect();
                for len in 1..=chars.len().min(MAX_PREFIX_CHARS) {
                    terms.insert(chars[..len].iter().collect());
                }
            }
        }
    }
    terms
}

/// Off-shelf products are indexed too (staff search them), under their terms with this mark
/// in front: no shopper query can carry it (queries keep letters, digits and CJK only), so
/// shoppers never find a product that is not for sale.
const OFF_SHELF_MARK: &str = "off:";

/// Terms as posted for `on_shelf` products: themselves on the shelf, marked off it.
fn on_shelf_or_marked<I: IntoIterator<Item = String>, C: FromIterator<String>>(
    terms: I,
    on_shelf: bool,
) -> C {
    terms
        .into_iter()
        .map(|t| {
            if on_shelf {
                t
            } else {
                format!("{OFF_SHELF_MARK}{t}")
            }
        })
        .collect()
}

/// The terms a product is posted under: its title's, marked when it is off the shelf.
pub fn shelf_terms(text: &str, on_shelf: bool) -> BTreeSet<String> {
    on_shelf_or_marked(index_terms(text), on_shelf)
}

/// The terms staff search products on or off the shelf with.
pub fn staff_query_terms(query: &str, on_shelf: bool) -> Vec<String> {
    on_shelf_or_marked(query_terms(query), on_shelf)
}

/// The terms every match of a query must carry. Empty when the query has no searchable text.
pub fn query_terms(query: &str) -> Vec<String> {
    let mut terms = BTreeSet::new();
    for run in runs(query) {
        match run {
            Run::Cjk(chars) if chars.len() == 1 => {
                terms.insert(chars[0].to_string());
            }
            Run::Cjk(chars) => {
                for pair in chars.windows(2) {
                    terms.insert(pair.iter().collect::<String>());
                }
            }
            Run::Word(word) => {
                terms.insert(word.chars().take(MAX_PREFIX_CHARS).collect());
            }
        }
    }
    terms.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finds(title: &str, query: &str) -> bool {
        let index = index_terms(title);
        let q = query_terms(query);
        !q.is_empty() && q.iter().all(|t| index.contains(t))
    }

    #[test]
    fn an_off_shelf_product_is_found_by_staff_and_never_by_shoppers() {
        let posted = shelf_terms("西湖龙井 明前特级", false);
        let staff = staff_query_terms("龙井", false);
        assert!(!staff.is_empty() && staff.iter().all(|t| posted.contains(t)));
        for query in ["龙井", "off:龙井", "off 龙井", "西湖"] {
            let shopper = query_terms(query);
            assert!(
                !shopper.iter().all(|t| posted.contains(t)),
                "a shopper's {query:?} found an off-shelf product"
            );
        }
        let on_shelf = shelf_terms("西湖龙井 明前特级", true);
        assert!(
            staff_query_terms("龙井", true)
                .iter()
                .all(|t| on_shelf.contains(t))
        );
        assert!(!staff.iter().all(|t| on_shelf.contains(t)));
    }

    #[test]
    fn chinese_substrings_find_the_title() {
        let title = "云南普洱熟茶 357克茶饼";
        assert!(finds(title, "普洱"));
        assert!(finds(title, "茶"));
        assert!(
            finds(title, "普洱 茶饼"),
            "words may come from different places in the title"
        );
        assert!(
            !finds(title, "洱茶"),
            "characters must be adjacent within a word"
        );
        assert!(finds(title, "熟茶"));
        assert!(!finds(title, "绿茶"));
    }

    #[test]
    fn latin_words_match_by_prefix_and_ignore_case() {
        assert!(finds("Apple iPhone 16 手机壳", "iph"));
        assert!(finds("Apple iPhone 16 手机壳", "IPHONE 手机"));
        assert!(!finds("Apple iPhone 16 手机壳", "phone"));
    }

    #[test]
    fn punctuation_only_query_has_no_terms() {
        assert!(query_terms("  ,.!？ ").is_empty());
    }
}

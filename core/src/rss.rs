//! The `rss` backend encoding, mapped the way KrakenD maps it: KrakenD parses the feed with
//! gofeed into its universal feed and keeps `items`, `author`, `categories`, `custom`,
//! `copyright`, `description`, `type`, `language`, `title`, `published`, `updated` and, when
//! the feed has an image, `img_url`. Items carry gofeed's item fields under gofeed's JSON names
//! (empty ones left out). RSS 0.9x/1.0/2.0 and Atom 1.0 are read; the XML itself is parsed by
//! [`crate::xml`].

use crate::json::{Map, Value};

/// Decode an RSS or Atom document into KrakenD's feed object.
pub(crate) fn decode(body: &[u8]) -> Result<Map, String> {
    let doc = crate::xml::decode(body).map_err(|e| e.replace("invalid XML", "invalid feed"))?;
    let (root, value) = doc
        .into_iter()
        .next()
        .ok_or_else(|| "invalid feed from backend: empty document".to_owned())?;
    let feed = match local(&root) {
        "rss" => rss(&value, "rss"),
        "RDF" => rss(&value, "rdf"),
        "feed" => atom(&value),
        other => {
            return Err(format!(
                "invalid feed from backend: `<{other}>` is neither RSS nor Atom"
            ))
        }
    };
    Ok(feed.into_map())
}

/// gofeed's universal feed, as far as KrakenD exposes it.
#[derive(Default)]
struct Feed {
    title: String,
    description: String,
    author: Option<Person>,
    language: String,
    image_url: Option<String>,
    copyright: String,
    categories: Vec<String>,
    published: String,
    updated: String,
    kind: &'static str,
    items: Vec<Map>,
}

/// An author: name and e-mail.
#[derive(Default)]
struct Person {
    name: String,
    email: String,
}

impl Feed {
    fn into_map(self) -> Map {
        let mut m = Map::new();
        let s = |v: String| Value::String(v.into());
        m.insert("title".into(), s(self.title));
        m.insert("description".into(), s(self.description));
        m.insert(
            "author".into(),
            self.author.map_or(Value::Null, Person::into_value),
        );
        m.insert("language".into(), s(self.language));
        m.insert("copyright".into(), s(self.copyright));
        m.insert("categories".into(), strings_or_null(self.categories));
        // gofeed's `Custom` holds extension elements KrakenD does not ask for: always null.
        m.insert("custom".into(), Value::Null);
        m.insert("published".into(), s(self.published));
        m.insert("updated".into(), s(self.updated));
        m.insert("type".into(), s(self.kind.to_owned()));
        m.insert(
            "items".into(),
            Value::Array(self.items.into_iter().map(Value::Object).collect()),
        );
        if let Some(url) = self.image_url {
            m.insert("img_url".into(), s(url));
        }
        m
    }
}

impl Person {
    fn into_value(self) -> Value {
        let mut m = Map::new();
        put(&mut m, "name", self.name);
        put(&mut m, "email", self.email);
        Value::Object(m)
    }

    /// RSS's `email (Name)` / `Name <email>` / plain text forms.
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        if let Some((email, rest)) = text.split_once('(') {
            if let Some(name) = rest.strip_suffix(')') {
                return Some(Self {
                    name: name.trim().to_owned(),
                    email: email.trim().to_owned(),
                });
            }
        }
        if let Some((name, rest)) = text.split_once('<') {
            if let Some(email) = rest.strip_suffix('>') {
                return Some(Self {
                    name: name.trim().to_owned(),
                    email: email.trim().to_owned(),
                });
            }
        }
        Some(if text.contains('@') && !text.contains(' ') {
            Self {
                name: String::new(),
                email: text.to_owned(),
            }
        } else {
            Self {
                name: text.to_owned(),
                email: String::new(),
            }
        })
    }
}

/// RSS 0.9x/2.0 (`<rss><channel>`) and RSS 1.0 (`<rdf:RDF>`, items beside the channel).
fn rss(root: &Value, kind: &'static str) -> Feed {
    let channel = child(root, "channel").cloned().unwrap_or_default();
    let ch = &channel;
    let mut items: Vec<&Value> = children(ch, "item");
    if items.is_empty() {
        items = children(root, "item");
    }
    let image = child(ch, "image").or_else(|| child(root, "image"));
    Feed {
        title: first_text(ch, &["title", "dc:title"]),
        description: first_text(ch, &["description", "itunes:summary"]),
        author: [
            "managingEditor",
            "webMaster",
            "dc:author",
            "dc:creator",
            "itunes:author",
        ]
        .iter()
        .find_map(|k| Person::parse(&text_of(child(ch, k)))),
        language: first_text(ch, &["language", "dc:language"]),
        image_url: image
            .map(|i| text_of(child(i, "url")))
            .or_else(|| child(ch, "itunes:image").map(|i| attr(i, "href")))
            .filter(|u| !u.is_empty()),
        copyright: first_text(ch, &["copyright", "dc:rights"]),
        categories: children(ch, "category")
            .into_iter()
            .map(|c| text_of(Some(c)))
            .filter(|c| !c.is_empty())
            .collect(),
        published: first_text(ch, &["pubDate"]),
        updated: first_text(ch, &["lastBuildDate", "dc:date"]),
        kind: if kind == "rdf" { "rss" } else { kind },
        items: items.into_iter().map(rss_item).collect(),
    }
}

fn rss_item(item: &Value) -> Map {
    let mut m = Map::new();
    put(&mut m, "title", first_text(item, &["title", "dc:title"]));
    put(&mut m, "description", first_text(item, &["description"]));
    put(&mut m, "content", first_text(item, &["content:encoded"]));
    put(&mut m, "link", first_text(item, &["link"]));
    dated(
        &mut m,
        "published",
        first_text(item, &["pubDate", "dc:date"]),
    );
    if let Some(author) = ["author", "dc:creator", "itunes:author"]
        .iter()
        .find_map(|k| Person::parse(&text_of(child(item, k))))
    {
        m.insert("author".into(), author.into_value());
    }
    put(&mut m, "guid", first_text(item, &["guid"]));
    let cats: Vec<String> = children(item, "category")
        .into_iter()
        .chain(children(item, "dc:subject"))
        .map(|c| text_of(Some(c)))
        .filter(|c| !c.is_empty())
        .collect();
    if !cats.is_empty() {
        m.insert("categories".into(), strings_or_null(cats));
    }
    let enclosures: Vec<Value> = children(item, "enclosure")
        .into_iter()
        .map(|e| enclosure(&attr(e, "url"), &attr(e, "length"), &attr(e, "type")))
        .collect();
    if !enclosures.is_empty() {
        m.insert("enclosures".into(), Value::Array(enclosures));
    }
    m
}

/// Atom 1.0 (`<feed>`).
fn atom(root: &Value) -> Feed {
    let image = first_text(root, &["logo", "icon"]);
    Feed {
        title: first_text(root, &["title"]),
        description: first_text(root, &["subtitle"]),
        author: child(root, "author").and_then(atom_person),
        language: attr(root, "xml:lang"),
        image_url: (!image.is_empty()).then_some(image),
        copyright: first_text(root, &["rights"]),
        categories: children(root, "category")
            .into_iter()
            .map(|c| attr(c, "term"))
            .filter(|c| !c.is_empty())
            .collect(),
        published: first_text(root, &["published"]),
        updated: first_text(root, &["updated"]),
        kind: "atom",
        items: children(root, "entry")
            .into_iter()
            .map(atom_entry)
            .collect(),
    }
}

fn atom_entry(entry: &Value) -> Map {
    let mut m = Map::new();
    put(&mut m, "title", first_text(entry, &["title"]));
    put(&mut m, "description", first_text(entry, &["summary"]));
    put(&mut m, "content", first_text(entry, &["content"]));
    let links = children(entry, "link");
    let alternate = links
        .iter()
        .find(|l| matches!(attr(l, "rel").as_str(), "" | "alternate"))
        .map(|l| attr(l, "href"))
        .unwrap_or_default();
    put(&mut m, "link", alternate);
    dated(&mut m, "updated", first_text(entry, &["updated"]));
    dated(&mut m, "published", first_text(entry, &["published"]));
    if let Some(author) = child(entry, "author").and_then(atom_person) {
        m.insert("author".into(), author.into_value());
    }
    put(&mut m, "guid", first_text(entry, &["id"]));
    let cats: Vec<String> = children(entry, "category")
        .into_iter()
        .map(|c| attr(c, "term"))
        .filter(|c| !c.is_empty())
        .collect();
    if !cats.is_empty() {
        m.insert("categories".into(), strings_or_null(cats));
    }
    let enclosures: Vec<Value> = links
        .iter()
        .filter(|l| attr(l, "rel") == "enclosure")
        .map(|l| enclosure(&attr(l, "href"), &attr(l, "length"), &attr(l, "type")))
        .collect();
    if !enclosures.is_empty() {
        m.insert("enclosures".into(), Value::Array(enclosures));
    }
    m
}

fn atom_person(v: &Value) -> Option<Person> {
    let p = Person {
        name: text_of(child(v, "name")),
        email: text_of(child(v, "email")),
    };
    (!p.name.is_empty() || !p.email.is_empty()).then_some(p)
}

fn enclosure(url: &str, length: &str, kind: &str) -> Value {
    let mut m = Map::new();
    put(&mut m, "url", url.to_owned());
    put(&mut m, "length", length.to_owned());
    put(&mut m, "type", kind.to_owned());
    Value::Object(m)
}

/// A date as written under `key`, and gofeed's parsed form under `<key>Parsed` when it is
/// RFC 1123/822 or RFC 3339 with a numeric or UTC zone.
fn dated(m: &mut Map, key: &str, text: String) {
    if let Some(parsed) = rfc3339(&text) {
        m.insert(format!("{key}Parsed").into(), Value::String(parsed.into()));
    }
    put(m, key, text);
}

/// A feed date as Go marshals the parsed `time.Time` (RFC 3339, the zone as written, `Z` for
/// UTC); `None` for a form this parser does not read.
fn rfc3339(text: &str) -> Option<String> {
    let text = text.trim();
    rfc1123(text).or_else(|| iso(text))
}

/// `[Mon, ]02 Jan 2006 15:04[:05] ZONE` with a numeric zone or GMT/UT/UTC/Z.
fn rfc1123(text: &str) -> Option<String> {
    let rest = text.split_once(", ").map_or(text, |(_, r)| r);
    let mut parts = rest.split_whitespace();
    let day: u32 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month_name))?
        + 1;
    let year: u32 = parts.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let mut clock = parts.next()?.split(':');
    let hour: u32 = clock.next()?.parse().ok()?;
    let minute: u32 = clock.next()?.parse().ok()?;
    let second: u32 = clock.next().map_or(Some(0), |s| s.parse().ok())?;
    let zone = zone(parts.next()?)?;
    if parts.next().is_some() || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60
    {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{zone}"
    ))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A zone as Go prints it: `Z` for UTC, `+hh:mm` otherwise.
fn zone(z: &str) -> Option<String> {
    if matches!(z, "GMT" | "UT" | "UTC" | "Z") {
        return Some("Z".to_owned());
    }
    let (sign, digits) = z.split_at_checked(1)?;
    let digits = digits.replace(':', "");
    if !matches!(sign, "+" | "-")
        || digits.len() != 4
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if digits == "0000" {
        return Some("Z".to_owned());
    }
    Some(format!("{sign}{}:{}", &digits[..2], &digits[2..]))
}

/// RFC 3339 (`2003-12-13T18:30:02[.25](Z|+01:00)`), fractions without trailing zeros.
fn iso(text: &str) -> Option<String> {
    let (date, time) = text.split_once(['T', 't'])?;
    let d: Vec<&str> = date.split('-').collect();
    let date_ok = d.len() == 3
        && d[0].len() == 4
        && d[1].len() == 2
        && d[2].len() == 2
        && d.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()));
    let split = time.find(['Z', 'z', '+', '-'])?;
    let (clock, zone_text) = time.split_at(split);
    let (hms, frac) = clock.split_once('.').map_or((clock, ""), |(a, b)| (a, b));
    let t: Vec<&str> = hms.split(':').collect();
    let time_ok = t.len() == 3
        && t.iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()))
        && frac.bytes().all(|b| b.is_ascii_digit());
    if !date_ok || !time_ok {
        return None;
    }
    let zone = zone(&zone_text.to_ascii_uppercase())?;
    let frac = frac.trim_end_matches('0');
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    Some(format!("{date}T{hms}{frac}{zone}"))
}

/// gofeed's `omitempty`: an empty string is left out.
fn put(m: &mut Map, key: &str, value: String) {
    if !value.is_empty() {
        m.insert(key.to_owned().into(), Value::String(value.into()));
    }
}

fn strings_or_null(list: Vec<String>) -> Value {
    if list.is_empty() {
        Value::Null
    } else {
        Value::Array(list.into_iter().map(Value::from).collect())
    }
}

/// The name without its namespace prefix (`rdf:RDF` -> `RDF`).
fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, l)| l)
}

/// The first element named `key` (a repeated element is an array).
fn child<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    match v.as_object()?.get(key)? {
        Value::Array(list) => list.first(),
        other => Some(other),
    }
}

/// Every element named `key`.
fn children<'v>(v: &'v Value, key: &str) -> Vec<&'v Value> {
    match v.as_object().and_then(|o| o.get(key)) {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    }
}

/// An element's text (its `#text` when it has attributes), trimmed.
fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Object(o)) => match o.get("#text") {
            Some(Value::String(s)) => s.trim().to_owned(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

fn first_text(v: &Value, keys: &[&str]) -> String {
    keys.iter()
        .map(|k| text_of(child(v, k)))
        .find(|t| !t.is_empty())
        .unwrap_or_default()
}

fn attr(v: &Value, name: &str) -> String {
    match v.as_object().and_then(|o| o.get(&format!("-{name}"))) {
        Some(Value::String(s)) => s.trim().to_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
  <title>Feed &amp; co</title>
  <link>https://a.example</link>
  <description>About things</description>
  <language>en_us</language>
  <managingEditor>ed@a.example (Ed Itor)</managingEditor>
  <category>news</category>
  <image><url>https://a.example/i.png</url></image>
  <item>
    <title>One</title>
    <link>https://a.example/1</link>
    <pubDate>Mon, 02 Jan 2006 15:04:05 -0700</pubDate>
    <guid isPermaLink="false">id-1</guid>
    <content:encoded><![CDATA[<p>Hi</p>]]></content:encoded>
    <enclosure url="https://a.example/1.mp3" length="12" type="audio/mpeg"/>
  </item>
  <item><title>Two</title></item>
</channel>
</rss>"#;

    #[test]
    fn rss2_maps_like_krakend() {
        let m = decode(RSS.as_bytes()).unwrap();
        let json = Value::Object(m).to_json();
        assert_eq!(
            json,
            concat!(
                r#"{"author":{"email":"ed@a.example","name":"Ed Itor"},"categories":["news"],"#,
                r#""copyright":"","custom":null,"description":"About things","img_url":"https://a.example/i.png","#,
                r#""items":[{"content":"\u003cp\u003eHi\u003c/p\u003e","enclosures":[{"length":"12","type":"audio/mpeg","url":"https://a.example/1.mp3"}],"#,
                r#""guid":"id-1","link":"https://a.example/1","published":"Mon, 02 Jan 2006 15:04:05 -0700","#,
                r#""publishedParsed":"2006-01-02T15:04:05-07:00","title":"One"},{"title":"Two"}],"#,
                r#""language":"en_us","published":"","title":"Feed \u0026 co","type":"rss","updated":""}"#
            )
        );
    }

    #[test]
    fn atom_maps_like_krakend() {
        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>Atom feed</title><subtitle>Sub</subtitle><updated>2003-12-13T18:30:02Z</updated>
  <author><name>Jo</name></author>
  <entry><title>E1</title><id>urn:1</id><link href="https://b.example/1"/>
    <link rel="enclosure" href="https://b.example/a.mp3" type="audio/mpeg"/>
    <updated>2003-12-13T18:30:02Z</updated><summary>S</summary></entry>
</feed>"#;
        let m = decode(atom.as_bytes()).unwrap();
        assert_eq!(
            Value::Object(m).to_json(),
            concat!(
                r#"{"author":{"name":"Jo"},"categories":null,"copyright":"","custom":null,"description":"Sub","#,
                r#""items":[{"description":"S","enclosures":[{"type":"audio/mpeg","url":"https://b.example/a.mp3"}],"#,
                r#""guid":"urn:1","link":"https://b.example/1","title":"E1","updated":"2003-12-13T18:30:02Z","#,
                r#""updatedParsed":"2003-12-13T18:30:02Z"}],"language":"en","published":"","title":"Atom feed","#,
                r#""type":"atom","updated":"2003-12-13T18:30:02Z"}"#
            )
        );
    }

    #[test]
    fn rss1_rdf_items_sit_beside_the_channel() {
        let rdf = r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
  <channel><title>RDF feed</title><description>D</description></channel>
  <item><title>I1</title><link>https://c.example/1</link></item>
  <item><title>I2</title></item>
</rdf:RDF>"#;
        let m = decode(rdf.as_bytes()).unwrap();
        assert_eq!(m["type"], Value::String("rss".into()));
        assert_eq!(m["title"], Value::String("RDF feed".into()));
        let Value::Array(items) = &m["items"] else {
            panic!("items is not a list")
        };
        assert_eq!(items.len(), 2);
        assert_eq!(
            Value::Object(items[0].as_object().unwrap().clone()).to_json(),
            r#"{"link":"https://c.example/1","title":"I1"}"#
        );
    }

    #[test]
    fn dates_as_go_marshals_them() {
        for (text, want) in [
            (
                "Mon, 02 Jan 2006 15:04:05 -0700",
                Some("2006-01-02T15:04:05-07:00"),
            ),
            (
                "Tue, 01 Dec 2026 09:30:00 +0100",
                Some("2026-12-01T09:30:00+01:00"),
            ),
            ("01 Dec 2026 09:30 GMT", Some("2026-12-01T09:30:00Z")),
            (
                "2003-12-13T18:30:02.500+00:00",
                Some("2003-12-13T18:30:02.5Z"),
            ),
            (
                "2003-12-13T18:30:02-05:00",
                Some("2003-12-13T18:30:02-05:00"),
            ),
            ("Tue, 01 Dec 2026 09:30:00 EST", None),
            ("yesterday", None),
            ("", None),
        ] {
            assert_eq!(rfc3339(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn not_a_feed_is_an_error() {
        assert!(decode(b"<html><body/></html>").is_err());
        assert!(decode(b"").is_err());
        assert!(decode(b"{\"a\":1}").is_err());
        assert!(decode(b"<rss><channel><title>x</channel></rss>").is_err());
    }
}

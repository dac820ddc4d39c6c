//! The benchmark fixtures shared by the bench targets.

/// bench/bench.py's `c/big.json` (scenario c), byte for byte as bench.py writes it for the
/// backend (100,910 bytes: compact separators, keys in insertion order, so not sorted).
pub(crate) fn scenario_c_body() -> String {
    let mut s = String::from("{\"items\":[");
    for i in 0..405 {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"id\":{i},\"sku\":\"SKU-{i:06}\",\"title\":\"Catalogue item number {i}\",\
             \"description\":\"{}\",\"price\":{},\"tags\":[\"alpha\",\"beta\",\"gamma\"]}}",
            "A reasonably long description used to pad the body to size. ".repeat(2),
            1000 + i
        ));
    }
    s.push_str(&format!(
        "],\"meta\":{{\"count\":405,\"trace\":\"{}\",\"region\":\"eu\"}},\
         \"debug\":{{\"sql\":\"{}\",\"host\":\"db-7\"}}}}",
        "t".repeat(200),
        "SELECT * FROM items ".repeat(20)
    ));
    s
}

//! An ADB reader for apk-tools 3 packages (schema "pckg", tests/vectors/apk/ADB-FORMAT.md),
//! written from the format and independent of the packer (cross/apk.py), and a renderer
//! that prints what `apk adbdump` prints: tests/apk.rs checks it against the reference
//! dumps, then uses it to look into our packages. Only what packages carry here: no
//! signatures, symlink targets, xattrs, triggers or versioned dependencies with operators
//! (those are errors).

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How a field's value is read and printed.
enum Kind {
    Str,
    Text,
    Hex,
    Int,
    Octal,
    Dep,
    Obj(&'static [(&'static str, Kind)]),
    Arr(&'static Kind),
}

static ACL: [(&str, Kind); 3] = [("mode", Kind::Octal), ("user", Kind::Str), ("group", Kind::Str)];
static FILE: [(&str, Kind); 5] =
    [("name", Kind::Str), ("acl", Kind::Obj(&ACL)), ("size", Kind::Int), ("mtime", Kind::Int), ("hash", Kind::Hex)];
static FILE_OBJ: Kind = Kind::Obj(&FILE);
static DIR: [(&str, Kind); 3] = [("name", Kind::Str), ("acl", Kind::Obj(&ACL)), ("files", Kind::Arr(&FILE_OBJ))];
static DIR_OBJ: Kind = Kind::Obj(&DIR);
static DEP: Kind = Kind::Dep;
static INFO: [(&str, Kind); 17] = [
    ("name", Kind::Str),
    ("version", Kind::Str),
    ("hashes", Kind::Hex),
    ("description", Kind::Str),
    ("arch", Kind::Str),
    ("license", Kind::Str),
    ("origin", Kind::Str),
    ("maintainer", Kind::Str),
    ("url", Kind::Str),
    ("repo-commit", Kind::Hex),
    ("build-time", Kind::Int),
    ("installed-size", Kind::Int),
    ("file-size", Kind::Int),
    ("provider-priority", Kind::Int),
    ("depends", Kind::Arr(&DEP)),
    ("provides", Kind::Arr(&DEP)),
    ("replaces", Kind::Arr(&DEP)),
];
static SCRIPTS: [(&str, Kind); 7] = [
    ("trigger", Kind::Text),
    ("pre-install", Kind::Text),
    ("post-install", Kind::Text),
    ("pre-deinstall", Kind::Text),
    ("post-deinstall", Kind::Text),
    ("pre-upgrade", Kind::Text),
    ("post-upgrade", Kind::Text),
];
static PACKAGE: [(&str, Kind); 3] =
    [("info", Kind::Obj(&INFO)), ("paths", Kind::Arr(&DIR_OBJ)), ("scripts", Kind::Obj(&SCRIPTS))];

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Str(String, bool),
    Hex(Vec<u8>),
    Num(u64, bool),
    Obj(Vec<(&'static str, Node)>),
    Arr(Vec<Node>),
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Obj(fields) => fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Node::Str(s, _)) => Some(s),
            _ => None,
        }
    }
    pub fn num(&self, key: &str) -> Option<u64> {
        match self.get(key) {
            Some(Node::Num(n, _)) => Some(*n),
            _ => None,
        }
    }
    pub fn bytes(&self, key: &str) -> Option<&[u8]> {
        match self.get(key) {
            Some(Node::Hex(b)) => Some(b),
            _ => None,
        }
    }
    pub fn items(&self, key: &str) -> &[Node] {
        match self.get(key) {
            Some(Node::Arr(items)) => items,
            _ => &[],
        }
    }
}

/// One decoded package: the ADB block's size and tree, and the DATA blocks.
pub struct Package {
    pub adb_size: usize,
    pub root: Node,
    /// (path index, file index, content), 1-based, in file order.
    pub data: Vec<(u32, u32, Vec<u8>)>,
}

/// One file of a package, with its content from the DATA blocks.
#[derive(Debug)]
pub struct FileEntry {
    pub path: String,
    pub mode: u64,
    pub owner: (String, String),
    pub size: u64,
    pub mtime: u64,
    pub hash: Vec<u8>,
    pub content: Vec<u8>,
}

impl Package {
    pub fn info(&self) -> &Node {
        self.root.get("info").expect("no info")
    }
    pub fn depends(&self) -> Vec<&str> {
        self.info().items("depends").iter().map(|d| if let Node::Str(s, _) = d { s.as_str() } else { "?" }).collect()
    }
    pub fn script(&self, name: &str) -> Option<&str> {
        self.root.get("scripts").and_then(|s| s.str(name))
    }
    pub fn script_names(&self) -> Vec<&'static str> {
        match self.root.get("scripts") {
            Some(Node::Obj(fields)) => fields.iter().map(|(k, _)| *k).collect(),
            _ => vec![],
        }
    }
    /// Every directory as (path, mode, owner).
    pub fn dirs(&self) -> Vec<(String, u64, (String, String))> {
        self.root
            .items("paths")
            .iter()
            .map(|d| {
                let acl = d.get("acl").expect("dir without acl");
                let owner = (acl.str("user").unwrap_or("").to_string(), acl.str("group").unwrap_or("").to_string());
                (d.str("name").unwrap_or("").to_string(), acl.num("mode").unwrap(), owner)
            })
            .collect()
    }
    /// Every file, joined with its DATA block.
    pub fn files(&self) -> Vec<FileEntry> {
        let mut out = Vec::new();
        for (pi, dir) in self.root.items("paths").iter().enumerate() {
            let dir_name = dir.str("name").unwrap_or("");
            for (fi, file) in dir.items("files").iter().enumerate() {
                let name = file.str("name").expect("file without name");
                let acl = file.get("acl").expect("file without acl");
                let content = self
                    .data
                    .iter()
                    .find(|(p, f, _)| *p as usize == pi + 1 && *f as usize == fi + 1)
                    .map(|(_, _, c)| c.clone())
                    .unwrap_or_default();
                out.push(FileEntry {
                    path: if dir_name.is_empty() { format!("/{name}") } else { format!("/{dir_name}/{name}") },
                    mode: acl.num("mode").unwrap(),
                    owner: (acl.str("user").unwrap_or("").into(), acl.str("group").unwrap_or("").into()),
                    size: file.num("size").unwrap_or(0),
                    mtime: file.num("mtime").unwrap_or(0),
                    hash: file.bytes("hash").unwrap_or_default().to_vec(),
                    content,
                });
            }
        }
        out
    }
    pub fn file(&self, path: &str) -> FileEntry {
        self.files().into_iter().find(|f| f.path == path).unwrap_or_else(|| panic!("no {path} in the package"))
    }
}

fn le32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4).map(|s| u32::from_le_bytes(s.try_into().unwrap())).ok_or(format!("u32 at {at} out of bounds"))
}

/// Reads the value `v` of kind `kind` from the ADB payload `p`.
fn value(p: &[u8], v: u32, kind: &Kind) -> Result<Node, String> {
    let (ty, at) = (v >> 28, (v & 0x0fff_ffff) as usize);
    let blob = || -> Result<Vec<u8>, String> {
        let (len, start) = match ty {
            0x8 => (*p.get(at).ok_or("blob8 out of bounds")? as usize, at + 1),
            0x9 if at % 2 == 0 => (
                u16::from_le_bytes(p.get(at..at + 2).ok_or("blob16 out of bounds")?.try_into().unwrap()) as usize,
                at + 2,
            ),
            0xa if at % 4 == 0 => (le32(p, at)? as usize, at + 4),
            _ => return Err(format!("value {v:08x} is not a blob")),
        };
        Ok(p.get(start..start + len).ok_or(format!("blob at {at} out of bounds"))?.to_vec())
    };
    let int = || -> Result<u64, String> {
        match ty {
            0x1 => Ok(at as u64),
            0x2 if at % 4 == 0 => Ok(le32(p, at)? as u64),
            0x3 if at % 4 == 0 => Ok(le32(p, at)? as u64 | (le32(p, at + 4)? as u64) << 32),
            _ => Err(format!("value {v:08x} is not an integer")),
        }
    };
    let fields = || -> Result<Vec<u32>, String> {
        if !(ty == 0xd || ty == 0xe) || at % 4 != 0 {
            return Err(format!("value {v:08x} is not an object"));
        }
        let n = le32(p, at)? as usize;
        (1..n).map(|i| le32(p, at + 4 * i)).collect()
    };
    let utf8 = |b: Vec<u8>| String::from_utf8(b).map_err(|e| e.to_string());
    Ok(match kind {
        Kind::Str => Node::Str(utf8(blob()?)?, false),
        Kind::Text => Node::Str(utf8(blob()?)?, true),
        Kind::Hex => Node::Hex(blob()?),
        Kind::Int => Node::Num(int()?, false),
        Kind::Octal => Node::Num(int()?, true),
        Kind::Dep => {
            // dependency {1 name, 2 version, 3 match}: "name" or "name=version"
            let f = fields()?;
            let name = utf8(value_blob(p, *f.first().ok_or("dependency without a name")?)?)?;
            match f.get(1).copied().filter(|&v| v != 0) {
                None => Node::Str(name, false),
                Some(ver) if f.get(2).copied().unwrap_or(0) == 0 => {
                    Node::Str(format!("{name}={}", utf8(value_blob(p, ver)?)?), false)
                }
                Some(_) => return Err("dependency with a match operator".into()),
            }
        }
        Kind::Obj(schema) => {
            let mut out = Vec::new();
            for (i, &fv) in fields()?.iter().enumerate() {
                if fv == 0 {
                    continue;
                }
                let (name, kind) = schema.get(i).ok_or(format!("field {} beyond the schema", i + 1))?;
                out.push((*name, value(p, fv, kind)?));
            }
            Node::Obj(out)
        }
        Kind::Arr(item) => Node::Arr(fields()?.iter().map(|&iv| value(p, iv, item)).collect::<Result<_, _>>()?),
    })
}

fn value_blob(p: &[u8], v: u32) -> Result<Vec<u8>, String> {
    match value(p, v, &Kind::Hex)? {
        Node::Hex(b) => Ok(b),
        _ => unreachable!(),
    }
}

/// Decodes a package's inner file (`ADB.` + `pckg`, an .apk after inflating): its
/// blocks, the ADB tree and the DATA blocks.
pub fn decode(inner: &[u8]) -> Result<Package, String> {
    if inner.len() < 8 || &inner[..4] != b"ADB." || &inner[4..8] != b"pckg" {
        return Err("not an ADB file of schema pckg".into());
    }
    let (mut at, mut adb, mut data) = (8, None, Vec::new());
    while at < inner.len() {
        let head = le32(inner, at)?;
        let (ty, size) = (head >> 30, (head & 0x3fff_ffff) as usize);
        if size < 4 || at + size > inner.len() {
            return Err(format!("block at {at}: size {size} out of bounds"));
        }
        let payload = &inner[at + 4..at + size];
        let padded = size.div_ceil(8) * 8;
        if inner.get(at + size..at + padded).is_none_or(|pad| pad.iter().any(|&b| b != 0)) {
            return Err(format!("block at {at}: padding missing or not zero"));
        }
        match (ty, &adb) {
            (0, None) => adb = Some(payload.to_vec()),
            (2, Some(_)) => {
                data.push((le32(payload, 0)?, le32(payload, 4)?, payload.get(8..).ok_or("short data block")?.to_vec()))
            }
            _ => return Err(format!("block at {at}: type {ty} unexpected here")),
        }
        at += padded;
    }
    let p = adb.ok_or("no ADB block")?;
    if p.len() < 8 || p[0] != 0 || p[1] != 0 {
        return Err("ADB header: compat/version not 0".into());
    }
    let root = value(&p, le32(&p, 4)?, &Kind::Obj(&PACKAGE))?;
    Ok(Package { adb_size: p.len(), root, data })
}

/// A string as apk's YAML serializer prints it after "key:" or "- ".
fn yaml_scalar(s: &str, multiline: bool, level: usize, out: &mut String) {
    let mut quote = 0; // 0 plain, 1 single quotes, 2 block
    if s.len() >= 80 || multiline {
        quote = 2;
    } else if !s.is_empty() {
        if "-?:,[]{}#&*!|>'\"%@`".contains(s.as_bytes()[0] as char) {
            quote = 1;
        }
        let mut prev = 0u8;
        for &c in s.as_bytes() {
            match c {
                b'\r' | b'\n' | b'\'' => quote = 2,
                b' ' if prev == b':' => quote = quote.max(1),
                b'#' if prev == b' ' => quote = 2,
                b'#' => quote = quote.max(1),
                _ => {}
            }
            prev = c;
        }
    }
    match quote {
        0 => out.push_str(&format!(" {s}\n")),
        1 => out.push_str(&format!(" '{s}'\n")),
        _ => {
            out.push_str(" |\n");
            for line in s.split('\n').filter(|l| !l.is_empty()) {
                out.push_str(&format!("{}{line}\n", "  ".repeat(level + 1)));
            }
        }
    }
}

fn render_fields(fields: &[(&str, Node)], level: usize, mut first: Option<String>, out: &mut String) {
    for (key, node) in fields {
        out.push_str(&first.take().unwrap_or_else(|| "  ".repeat(level)));
        out.push_str(key);
        out.push(':');
        match node {
            Node::Str(s, ml) => yaml_scalar(s, *ml, level, out),
            Node::Hex(b) => out.push_str(&format!(" {}\n", hex(b))),
            Node::Num(n, true) => out.push_str(&format!(" {}\n", if *n == 0 { "0".into() } else { format!("0{n:o}") })),
            Node::Num(n, false) => out.push_str(&format!(" {n}\n")),
            Node::Obj(children) => {
                out.push('\n');
                render_fields(children, level + 1, None, out);
            }
            Node::Arr(items) => {
                out.push_str(&format!(" # {} items\n", items.len()));
                for item in items {
                    let dash = format!("{}- ", "  ".repeat(level + 1));
                    match item {
                        Node::Obj(children) => render_fields(children, level + 2, Some(dash), out),
                        Node::Str(s, ml) => {
                            out.push_str(dash.trim_end());
                            yaml_scalar(s, *ml, level + 1, out);
                        }
                        other => panic!("array item {other:?} not rendered"),
                    }
                }
            }
        }
    }
}

/// What `apk adbdump` prints for the package.
pub fn adbdump(pkg: &Package) -> String {
    let mut out = format!("#%SCHEMA: 676B6370\n# ADB block, size: {}, compat: 0, ver: 0\n", pkg.adb_size);
    if let Node::Obj(fields) = &pkg.root {
        render_fields(fields, 0, None, &mut out);
    }
    for (_, _, content) in &pkg.data {
        out.push_str(&format!("# data block, size: {}\n", content.len() + 8));
    }
    out
}

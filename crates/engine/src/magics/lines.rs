//! Which lines of a cell are magics (the rules are in `magics`' documentation): `%` lines,
//! and MetaKernel's `!` lines (a command for the kernel's machine; `!!` takes the rest of
//! the cell).

/// Splits a cell into its leading magic lines (without line ends) and the shell text after
/// them, following the rules in the module documentation. With no magic line, the shell text
/// is the whole cell, untouched.
pub fn split_magic_lines(code: &str) -> (Vec<&str>, &str) {
    let mut magics = Vec::new();
    let mut rest = code.len();
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let content = line.strip_suffix('\n').unwrap_or(line);
        let content = content.strip_suffix('\r').unwrap_or(content);
        let trimmed = content.trim_start();
        if content.starts_with("!!") {
            // MetaKernel's `!!`: the rest of the cell, from here, runs on the kernel's machine.
            magics.push(&code[offset..]);
            rest = code.len();
            break;
        }
        if content.starts_with('%') || content.starts_with('!') {
            magics.push(content);
            rest = offset + line.len();
        } else if !(trimmed.is_empty() || trimmed.starts_with('#')) {
            break;
        }
        offset += line.len();
    }
    if magics.is_empty() {
        return (magics, code);
    }
    let mut shell = &code[rest..];
    // Drop the blank lines between the magics and the shell text.
    while let Some(end) = shell.find('\n') {
        if !shell[..end].trim().is_empty() {
            break;
        }
        shell = &shell[end + 1..];
    }
    if shell.trim().is_empty() {
        shell = "";
    }
    (magics, shell)
}

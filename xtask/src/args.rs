//! A task's options, read one at a time: `--name value`, `--name=value`, or a bare `--flag`.
//! Each task matches the names it takes; the splitting of `--name=value`, taking a value from the
//! next argument, and the errors for a missing value or an unknown argument are written here
//! once.

/// The arguments of one task.
pub(crate) struct Args<'a> {
    rest: std::slice::Iter<'a, String>,
}

/// One argument: its name, and its value when written `--name=value`.
pub(crate) struct Arg<'a> {
    /// As written.
    raw: &'a str,
    /// The name: the argument up to its first `=`.
    pub(crate) name: &'a str,
    /// The value after the `=`, if any.
    inline: Option<&'a str>,
}

impl<'a> Args<'a> {
    /// The options in `args`, in order.
    pub(crate) fn new(args: &'a [String]) -> Self {
        Args { rest: args.iter() }
    }

    /// The value of option `arg`: written after its `=`, or else the next argument; without one,
    /// an error saying that the option needs `what` (`a value`, `a number`, …).
    pub(crate) fn value(&mut self, arg: &Arg<'a>, what: &str) -> Result<&'a str, String> {
        arg.inline
            .or_else(|| self.rest.next().map(String::as_str))
            .ok_or_else(|| format!("`{}` needs {what}", arg.name))
    }
}

impl<'a> Iterator for Args<'a> {
    type Item = Arg<'a>;

    fn next(&mut self) -> Option<Arg<'a>> {
        let raw = self.rest.next()?.as_str();
        let (name, inline) = match raw.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (raw, None),
        };
        Some(Arg { raw, name, inline })
    }
}

impl Arg<'_> {
    /// The error for an argument the task does not take.
    pub(crate) fn unexpected(&self) -> String {
        format!("unexpected argument `{}`", self.raw)
    }

    /// `Ok(true)` for a flag written bare (so `options.quick = arg.flag()?` sets it); a flag
    /// given a value (`--quick=yes`) is not one the task takes.
    pub(crate) fn flag(&self) -> Result<bool, String> {
        match self.inline {
            None => Ok(true),
            Some(_) => Err(self.unexpected()),
        }
    }
}

/// Reads a task's arguments, in order, into `options` (its defaults): `take` sets what `arg`
/// names, taking its value from `args` when it has one, and answers `Ok(false)` for an argument
/// the task does not take, which is refused.
pub(crate) fn read<'a, T>(
    args: &'a [String],
    mut options: T,
    mut take: impl FnMut(&mut T, &Arg<'a>, &mut Args<'a>) -> Result<bool, String>,
) -> Result<T, String> {
    let mut args = Args::new(args);
    while let Some(arg) = args.next() {
        if !take(&mut options, &arg, &mut args)? {
            return Err(arg.unexpected());
        }
    }
    Ok(options)
}

/// A task's arguments as the command line gives them, for the tests of the tasks' parsers.
#[cfg(test)]
pub(crate) fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_inline_or_the_next_argument_and_flags_take_none() {
        let given = strings(&["--a=1", "--b", "2", "--flag", "--flag=x", "--c"]);
        let mut args = Args::new(&given);
        let mut seen = Vec::new();
        while let Some(arg) = args.next() {
            let read = match arg.name {
                "--flag" => arg.flag().map(|_| "flag"),
                _ => args.value(&arg, "a number"),
            };
            seen.push((arg.name, read));
        }
        assert_eq!(
            seen,
            [
                ("--a", Ok("1")),
                ("--b", Ok("2")),
                ("--flag", Ok("flag")),
                ("--flag", Err("unexpected argument `--flag=x`".to_owned())),
                ("--c", Err("`--c` needs a number".to_owned())),
            ]
        );
    }
}

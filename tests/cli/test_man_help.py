"""The man page and the program describe the same commands and options: every command of
`crescendo --help` has a COMMANDS section and back, every long option of `<command> --help` is
named in that section or under "Options of every command", every option the section describes as
an item is in --help, and `man -l` renders the page without a warning."""
import os
import re
import subprocess

from cli_testing import check, finish, run

SOURCE = os.environ.get("CR_SOURCE_DIR", ".")
MAN = os.path.join(SOURCE, "docs", "crescendo.1")
HELP_OPTION = re.compile(r"^  (?:-\w, |    )--(?:\[no-\])?([a-z0-9-]+)")
MAN_OPTION = re.compile(r"\\-\\-([a-z0-9\\-]+)")


def man_sections():
    """{section title: [lines]} for the .SS sections under COMMANDS, plus "every command"."""
    sections, title, in_commands = {}, None, False
    with open(MAN) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith(".SH "):
                in_commands = line == ".SH COMMANDS"
                title = None
            elif line.startswith(".SS "):
                name = line[4:].replace("\\-", "-").strip('"')
                if name == "Options of every command":
                    title = "every command"
                elif in_commands:
                    title = name
                else:
                    title = None
                if title:
                    sections[title] = []
            elif title:
                sections[title].append(line)
    return sections


def man_options(lines):
    """The long options the section's items are about: the line after each .TP."""
    found = set()
    for i, line in enumerate(lines[:-1]):
        if line == ".TP":
            found.update(m.replace("\\-", "-") for m in MAN_OPTION.findall(lines[i + 1]))
    return found


def man_mentions(lines):
    """Every long option the section names, in an item or in its text (\"as in eval: ...\")."""
    return {m.replace("\\-", "-") for line in lines for m in MAN_OPTION.findall(line)}


def help_options(words):
    text = run(*words, "--help").stdout
    return {m.group(1) for m in map(HELP_OPTION.match, text.splitlines()) if m}


def help_commands(words):
    """The names listed under "commands:" or "benchmarks:" in a --help text."""
    text = run(*words, "--help").stdout
    names, listing = [], False
    for line in text.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            listing = line in ("commands:", "benchmarks:", "datasets:")
        elif listing and re.match(r"^  [a-z]", line):
            names.append(line.split()[0])
        elif not line.strip():
            listing = False
    return names


sections = man_sections()
every = man_options(sections.pop("every command", []))
check(every, "the man page has options under \"Options of every command\"")

# the commands: a section per command, or per subcommand where the command has them
commands = []
for name in help_commands([]):
    subs = help_commands([name])
    commands += [f"{name} {sub}" for sub in subs] if subs else [name]
check(commands, "crescendo --help lists commands")
check(sorted(commands) == sorted(sections),
      f"commands in --help {sorted(commands)} and man sections {sorted(sections)} differ")

for command in commands:
    in_help = help_options(command.split())
    in_man = man_mentions(sections.get(command, [])) | every
    # a command that takes another's options says so ("every option of .B train") once
    borrowed = re.search(r"every option of\s+\.BR? (\S+)", "\n".join(sections.get(command, [])))
    if borrowed:
        in_man |= man_mentions(sections.get(borrowed.group(1), []))
    missing_in_man = sorted(in_help - in_man)
    missing_in_help = sorted(man_options(sections.get(command, [])) - in_help)
    check(not missing_in_man, f"{command}: --help has options the man page lacks: "
          f"{missing_in_man}")
    check(not missing_in_help, f"{command}: the man page has options --help lacks: "
          f"{missing_in_help}")

p = subprocess.run(["man", "--warnings", "-l", MAN], capture_output=True, text=True,
                   env={**os.environ, "MANWIDTH": "80", "MAN_KEEP_FORMATTING": "0"})
check(p.returncode == 0 and not p.stderr.strip(),
      f"man -l renders without warnings: exit {p.returncode}\n{p.stderr[-2000:]}")
finish()

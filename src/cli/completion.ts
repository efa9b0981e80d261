/**
 * `attache completion bash|zsh|fish`: prints a shell completion script. The
 * script is written from the live commander program (its commands, their
 * options and arguments, the choices they accept), so a new command or flag
 * is completed as soon as it is registered and the script never drifts from
 * `--help`.
 *
 * What each shell completes: command names; each command's flags and the
 * global ones; the choices of a flag or argument that has them (`--mode`,
 * `completion <shell>`, `help <command>`); directories after `--dir`; file
 * names for any other positional argument (`stage <sources...>`). Free-form
 * values (`--ttl`, `--scope`) complete nothing.
 */
import { Argument, type Command, type Option } from "commander";
import { writeOut } from "./output.js";

const SHELLS = ["bash", "zsh", "fish"] as const;
type Shell = (typeof SHELLS)[number];

/** A flag as the scripts need it. */
interface FlagSpec {
  short: string | undefined;
  long: string | undefined;
  description: string;
  /** Null for a switch; else what its value completes to. */
  value: null | { choices: readonly string[] | null; directory: boolean };
}

/** A positional argument: its choices, or `null` for file names. */
interface ArgSpec {
  name: string;
  required: boolean;
  variadic: boolean;
  choices: readonly string[] | null;
}

interface CommandSpec {
  name: string;
  description: string;
  flags: FlagSpec[];
  args: ArgSpec[];
}

interface ProgramSpec {
  name: string;
  globals: FlagSpec[];
  commands: CommandSpec[];
}

/** Command and flag names go into scripts unquoted in places: refuse anything but plain words. */
const WORD = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

function word(text: string): string {
  if (!WORD.test(text)) throw new Error(`completion: ${JSON.stringify(text)} is not a plain word`);
  return text;
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0]?.trim() ?? "";
}

function flagSpec(option: Option): FlagSpec {
  const takesValue = option.required || option.optional;
  return {
    short: option.short === undefined ? undefined : word(option.short.replace(/^-/, "")),
    long: option.long === undefined ? undefined : word(option.long.replace(/^--/, "")),
    description: firstLine(option.description),
    value: takesValue
      ? { choices: option.argChoices?.map(word) ?? null, directory: /<(path|dir|directory)>|\[(path|dir|directory)\]/.test(option.flags) }
      : null,
  };
}

/** The program as data: visible commands (with `help`) and visible options, as `--help` lists them. */
function describeProgram(program: Command): ProgramSpec {
  const help = program.createHelp();
  const globals = help.visibleOptions(program).map(flagSpec);
  const globalLongs = new Set(globals.map((flag) => flag.long));
  const commands = help.visibleCommands(program);
  const names = commands.map((command) => word(command.name()));
  return {
    name: word(program.name()),
    globals,
    commands: commands.map((command) => ({
      name: word(command.name()),
      description: firstLine(command.description()),
      // The global options are accepted after the command too; list each flag once.
      flags: help.visibleOptions(command).map(flagSpec).filter((flag) => !globalLongs.has(flag.long)),
      args: command.registeredArguments.map((argument) => ({
        name: word(argument.name()),
        required: argument.required,
        variadic: argument.variadic,
        // `help [command]` takes a command name.
        choices: command.name() === "help" ? names : (argument.argChoices?.map(word) ?? null),
      })),
    })),
  };
}

/** `--scope` / `-q` spelled as typed. */
function spellings(flag: FlagSpec): string[] {
  return [...(flag.short === undefined ? [] : [`-${flag.short}`]), ...(flag.long === undefined ? [] : [`--${flag.long}`])];
}

/** A shell function name for the program (`attache` → `_attache`). */
function functionName(spec: ProgramSpec): string {
  return `_${spec.name.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

// ---------------------------------------------------------------- bash

function bashScript(spec: ProgramSpec): string {
  const fn = `${functionName(spec)}_completion`;
  const helper = `${functionName(spec)}_reply`;
  const list = (words: readonly string[]) => `'${words.join(" ")}'`;
  const valueCases = (flags: readonly FlagSpec[], prefix: string): string[] =>
    flags.flatMap((flag) => {
      if (flag.value === null) return [];
      const pattern = spellings(flag).map((s) => `${prefix}${s}`).join("|");
      if (flag.value.choices !== null) return [`    ${pattern}) COMPREPLY=($(compgen -W ${list(flag.value.choices)} -- "$cur")); return 0 ;;`];
      if (flag.value.directory) return [`    ${pattern}) ${helper} dirnames; return 0 ;;`];
      return [`    ${pattern}) ${helper} nothing; return 0 ;;`];
    });
  const globalValueFlags = spec.globals.filter((flag) => flag.value !== null).flatMap(spellings);
  const commandCases = spec.commands.map((command) => {
    const flags = command.flags.flatMap(spellings);
    const choices = command.args.find((arg) => arg.choices !== null)?.choices ?? null;
    const args = command.args.length === 0 ? "none" : choices === null ? "files" : "words";
    return `    ${command.name}) flags=${list(flags)}; args=${args}; words=${list(choices ?? [])} ;;`;
  });
  return `# ${spec.name} completion for bash, generated by \`${spec.name} completion bash\`.
# Load it in this shell:   source <(${spec.name} completion bash)
# Or for every shell:      ${spec.name} completion bash > ~/.local/share/bash-completion/completions/${spec.name}

# Completion after a free-form value or with no arguments left: nothing, or directory names.
${helper}() {
  type compopt >/dev/null 2>&1 || return 0
  compopt +o default
  if [[ $1 == dirnames ]]; then compopt -o dirnames; fi
  COMPREPLY=()
}

${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local command="" i
  # The command is the first word that is neither a flag nor a global flag's value.
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
${globalValueFlags.length === 0 ? "" : `      ${globalValueFlags.join("|")}) ((i++)) ;;\n`}      -*) ;;
      *) command=\${COMP_WORDS[i]}; break ;;
    esac
  done

  # The value of a flag.
  case "$command:$prev" in
${valueCases(spec.globals, "*:").join("\n")}
${spec.commands.flatMap((command) => valueCases(command.flags, `${command.name}:`)).join("\n")}
  esac

  local globals=${list(spec.globals.flatMap(spellings))}
  if [[ -z $command ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "$globals" -- "$cur"))
    else
      COMPREPLY=($(compgen -W ${list(spec.commands.map((command) => command.name))} -- "$cur"))
    fi
    return 0
  fi

  local flags="" args=files words=""
  case $command in
${commandCases.join("\n")}
    *) args=files ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags $globals" -- "$cur"))
  elif [[ $args == words ]]; then
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  elif [[ $args == none ]]; then
    ${helper} nothing
  fi
  # args=files: no reply, and -o default completes file names.
  return 0
}

complete -o default -F ${fn} ${spec.name}
`;
}

// ---------------------------------------------------------------- zsh

/** Text for inside a zsh single-quoted string. */
function zshQuoted(text: string): string {
  return text.replace(/'/g, "'\\''");
}

/** A description inside _arguments' `[…]`, where brackets and colons are special. */
function zshDescription(text: string): string {
  return zshQuoted(text.replace(/\\/g, "\\\\").replace(/([[\]:])/g, "\\$1"));
}

/** One _arguments spec: `'(-q --quiet)'{-q,--quiet}'[description]'`, with `:label:action` for a value. */
function zshFlag(flag: FlagSpec): string {
  const forms = spellings(flag);
  const exclusive = forms.length > 1 ? `'(${forms.join(" ")})'` : "";
  const names = forms.length > 1 ? `{${forms.join(",")}}` : forms.join("");
  let value = "";
  if (flag.value !== null) {
    const action = flag.value.choices !== null ? `(${flag.value.choices.join(" ")})` : flag.value.directory ? "_files -/" : " ";
    value = `:${flag.long ?? flag.short ?? "value"}:${action}`;
  }
  return `${exclusive}${names}'[${zshDescription(flag.description)}]${value}'`;
}

function zshArg(arg: ArgSpec, index: number): string {
  const action = arg.choices === null ? "_files" : `(${arg.choices.join(" ")})`;
  const position = arg.variadic ? "*" : arg.required ? String(index + 1) : `${index + 1}:`;
  return `'${position}:${arg.name}:${action}'`;
}

function zshScript(spec: ProgramSpec): string {
  const fn = functionName(spec);
  const commandCases = spec.commands.map((command) =>
    [`        ${command.name})`, `          _arguments -s $globals ${[...command.flags.map(zshFlag), ...command.args.map(zshArg)].join(" ")}`.trimEnd(), "          ;;"].join("\n"),
  );
  return `#compdef ${spec.name}
# ${spec.name} completion for zsh, generated by \`${spec.name} completion zsh\`.
# Load it in this shell (after compinit):   source <(${spec.name} completion zsh)
# Or for every shell: save it as _${spec.name} in a directory on $fpath.

${fn}() {
  local curcontext=$curcontext state line ret=1
  local -a globals commands
  globals=(
${spec.globals.map((flag) => `    ${zshFlag(flag)}`).join("\n")}
  )
  commands=(
${spec.commands.map((command) => `    '${command.name}:${zshQuoted(command.description)}'`).join("\n")}
  )
  _arguments -C -s $globals '1: :->command' '*:: :->args' && ret=0
  case $state in
    command)
      _describe -t commands '${spec.name} command' commands && ret=0
      ;;
    args)
      case $words[1] in
${commandCases.join("\n")}
      esac
      ;;
  esac
  return ret
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${spec.name}
fi
`;
}

// ---------------------------------------------------------------- fish

/** A fish single-quoted string. */
function fishQuote(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function fishFlag(name: string, flag: FlagSpec, condition: string | null): string {
  const parts = [`complete -c ${name}`];
  if (condition !== null) parts.push(`-n ${fishQuote(condition)}`);
  if (flag.short !== undefined) parts.push(`-s ${flag.short}`);
  if (flag.long !== undefined) parts.push(`-l ${flag.long}`);
  if (flag.value !== null) {
    // -x: takes a value, and that value is not a file name.
    if (flag.value.choices !== null) parts.push(`-x -a ${fishQuote(flag.value.choices.join(" "))}`);
    else if (flag.value.directory) parts.push("-x -a '(__fish_complete_directories)'");
    else parts.push("-x");
  }
  parts.push(`-d ${fishQuote(flag.description)}`);
  return parts.join(" ");
}

function fishScript(spec: ProgramSpec): string {
  const name = spec.name;
  const lines: string[] = [];
  for (const command of spec.commands) {
    lines.push(`complete -c ${name} -n __fish_use_subcommand -f -a ${command.name} -d ${fishQuote(command.description)}`);
  }
  for (const flag of spec.globals) lines.push(fishFlag(name, flag, null));
  for (const command of spec.commands) {
    const condition = `__fish_seen_subcommand_from ${command.name}`;
    for (const flag of command.flags) lines.push(fishFlag(name, flag, condition));
    const choices = command.args.flatMap((arg) => arg.choices ?? []);
    if (choices.length > 0) lines.push(`complete -c ${name} -n ${fishQuote(condition)} -f -a ${fishQuote(choices.join(" "))}`);
    // No positional argument, or only ones with choices: no file names.
    else if (command.args.length === 0) lines.push(`complete -c ${name} -n ${fishQuote(condition)} -f`);
  }
  return `# ${name} completion for fish, generated by \`${name} completion fish\`.
# Load it in this shell:   ${name} completion fish | source
# Or for every shell:      ${name} completion fish > ~/.config/fish/completions/${name}.fish

complete -c ${name} -e
${lines.join("\n")}
`;
}

/** The completion script for `shell`, from `program` as registered. */
export function completionScript(program: Command, shell: Shell): string {
  const spec = describeProgram(program);
  if (shell === "bash") return bashScript(spec);
  if (shell === "zsh") return zshScript(spec);
  return fishScript(spec);
}

/** Adds `attache completion <shell>` to `program`. */
export function registerCompletionCommand(program: Command): void {
  program
    .command("completion")
    .description("print a shell completion script (bash, zsh or fish)")
    .addArgument(new Argument("<shell>", "the shell to complete in").choices(SHELLS))
    .addHelpText(
      "after",
      `
Load it:
  bash   source <(attache completion bash)
  zsh    source <(attache completion zsh)     (after compinit)
  fish   attache completion fish | source`,
    )
    .action(async (shell: Shell, _options: unknown, command: Command) => {
      // The root program, with every command registered by now: the script is never out of date.
      const root = command.parent ?? program;
      await writeOut(completionScript(root, shell));
    });
}

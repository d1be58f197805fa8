import type { Command } from "commander";

/** The `name` subcommand group (`prism adapters …`), created on first use so several modules can add to it. */
export function commandGroup(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}

#!/usr/bin/env node
/**
 * The `realip` command: dispatches to one module per subcommand, each loaded only when used.
 * Exit codes: 0 success, 1 runtime failure, 2 bad arguments or invalid configuration.
 */
type Command = { run(argv: string[]): Promise<number> };

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  explain: { summary: 'explain how a request would be resolved', load: () => import('./explain.js') },
  check: { summary: 'validate a policy file', load: () => import('./check.js') },
  schema: { summary: 'print the policy JSON Schema', load: () => import('./schema.js') },
  sidecar: { summary: 'run the reverse-proxy sidecar', load: () => import('./sidecar.js') },
  demo: {
    summary: 'run the demo: sidecar + echo app with the default policy',
    load: () => import('./demo.js'),
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`);
  return `Usage: realip <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun realip <command> --help for its options.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const command = Object.prototype.hasOwnProperty.call(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(`realip: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  return (await command.load()).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `realip: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);

// Entry point of the `portico` binary: the controller, `portico migrate-check` or `portico explain`.
import './async-context-frame.ts'; // first: see there
import { main } from './main.ts';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`portico: Node.js 24 or later is required (this is ${process.version}); run it through npx or npm scripts, which use the project's Node 24\n`);
  process.exit(1);
}
const argv = process.argv.slice(2);
if (argv[0] === 'migrate-check') {
  // Loaded only for the subcommand: the controller's start-up is unchanged.
  const { migrateCheck } = await import('./migrate/command.ts');
  const code = await migrateCheck(argv.slice(1), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
  });
  // Exit now: the API client's keep-alive connections would hold the process open for seconds.
  // Pipes and files are written synchronously on Linux; the empty write flushes anything else.
  process.stdout.write('', () => process.exit(code));
} else if (argv[0] === 'explain') {
  const { explainCommand } = await import('./explain/command.ts');
  const code = await explainCommand(argv.slice(1), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
  });
  process.stdout.write('', () => process.exit(code));
} else {
  await main(argv);
}

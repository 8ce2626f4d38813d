// Entry point of the `portico` binary.
import './async-context-frame.ts'; // first: see there
import { main } from './main.ts';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`portico: Node.js 24 or later is required (this is ${process.version}); run it through npx or npm scripts, which use the project's Node 24\n`);
  process.exit(1);
}
await main(process.argv.slice(2));

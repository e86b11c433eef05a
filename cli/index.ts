/**
 * The `parley` executable: assembles the command group each role folder exports.
 */
import 'reflect-metadata';
import { Command } from 'commander';
import { caCommand } from '../ca/commands.js';

const program = new Command('parley')
  .description('Negotiate purchase contracts with mobile agents and sign them fairly')
  .version('0.1.0')
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) })
  .exitOverride((err) => {
    // commander's own usage errors exit 2, as documented; help/version exit 0
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

program.addCommand(caCommand());

await program.parseAsync(process.argv);

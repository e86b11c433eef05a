/**
 * The `parley` executable: assembles the command group each role folder exports.
 */
import 'reflect-metadata';
import { caCommand } from '../ca/commands.js';
import { homeCommand } from '../agent-home/commands.js';
import { storeCommand } from '../store/commands.js';
import { buyerCommand } from '../buyer-cli/commands.js';
import { verifyCommand } from './verify.js';
import { contractCommand } from './contract.js';
import { demoCommand } from './demo.js';
import { commandGroup } from './kit/output.js';

const program = commandGroup('parley', 'Negotiate purchase contracts with mobile agents and sign them fairly').version('0.1.0');

program.addCommand(caCommand());
program.addCommand(homeCommand());
program.addCommand(storeCommand());
program.addCommand(buyerCommand());
program.addCommand(verifyCommand());
program.addCommand(contractCommand());
program.addCommand(demoCommand());

await program.parseAsync(process.argv);

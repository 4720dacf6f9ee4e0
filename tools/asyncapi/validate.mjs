// Validates AsyncAPI documents with the official parser (@asyncapi/parser).
// Usage: node validate.mjs FILE...   (YAML or JSON)
// Prints one JSON report per file on stdout: {file, valid, asyncapi, diagnostics: [...]}
// and exits 1 when any document has an error-level diagnostic.
//
// The parser's AsyncAPI 3 ruleset does not check message examples against their payload
// and headers schemas (its 2.x ruleset did), so this script does, with Ajv, on the
// parser's dereferenced schemas: an example that contradicts its schema is an error.
import { readFile } from 'node:fs/promises';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

function exampleDiagnostics(document) {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const found = [];
  for (const message of document.allMessages()) {
    const schemas = { payload: message.payload()?.json(), headers: message.headers()?.json() };
    message.examples().all().forEach((example, index) => {
      for (const part of ['payload', 'headers']) {
        const value = part === 'payload' ? example.payload() : example.headers();
        if (value === undefined || schemas[part] === undefined) continue;
        const validate = ajv.compile(schemas[part]);
        if (!validate(value)) {
          for (const err of validate.errors) {
            found.push({
              severity: 'error',
              code: 'message-example-mismatch',
              message: `example ${example.name() ?? index} of ${message.name() ?? message.id()}: ${part}${err.instancePath} ${err.message}`,
              path: `components/messages/${message.id()}/examples/${index}/${part}${err.instancePath}`,
            });
          }
        }
      }
    });
  }
  return found;
}

const SEVERITY = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'information',
  [DiagnosticSeverity.Hint]: 'hint',
};

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node validate.mjs FILE...');
  process.exit(2);
}

const parser = new Parser();
const reports = [];
for (const file of files) {
  const source = await readFile(file, 'utf8');
  const { document, diagnostics } = await parser.parse(source, { source: file });
  const items = diagnostics.map((d) => ({
    severity: SEVERITY[d.severity] ?? String(d.severity),
    code: String(d.code),
    message: d.message,
    path: d.path.join('/'),
  }));
  if (document) items.push(...exampleDiagnostics(document));
  reports.push({
    file,
    valid: document !== undefined && !items.some((d) => d.severity === 'error'),
    asyncapi: document ? document.version() : null,
    channels: document ? document.channels().length : 0,
    messages: document ? document.messages().length : 0,
    operations: document ? document.operations().length : 0,
    diagnostics: items,
  });
}
console.log(JSON.stringify(reports, null, 2));
process.exit(reports.every((r) => r.valid) ? 0 : 1);

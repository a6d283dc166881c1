// Validates Forge manifests with Atlassian's @forge/manifest package, as `forge lint` does.
// Usage: node tests/forge/validate_manifest.js <node_modules folder> <manifest.yml>...
// Prints a JSON list with {"success": bool, "errors": [...]} for each file, in order.
// Exits 0 when every file was validated (valid or not), 2 when validation itself failed.
'use strict';

const path = require('path');

const [modulesDir, ...manifests] = process.argv.slice(2);
const forge = require(path.resolve(modulesDir, '@forge/manifest'));

async function main() {
  const results = [];
  for (const manifest of manifests) {
    // A fresh processor per file: validators keep no state between files, but the builder
    // caches processors, so each file gets its own run of the whole chain.
    const result = await forge.ProcessorBuilder.instance()
      .withValidation(forge.ValidationTypes.FULL)
      .build()
      .process(manifest);
    results.push({ success: result.success, errors: result.errors || [] });
  }
  process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + '\n');
  process.exit(2);
});

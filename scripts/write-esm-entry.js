// Writes dist/src/index.mjs so that the package root works from `import` as well as `require`:
// the ES module re-exports the CommonJS build's names, listed from the build itself.
const fs = require('fs');
const path = require('path');
const entry = path.join(__dirname, '..', 'dist', 'src', 'index.js');
const names = Object.keys(require(entry)).filter((n) => n !== 'default' && n !== '__esModule');
const text = `import cjs from './index.js';\nexport const { ${names.join(', ')} } = cjs;\nexport default cjs;\n`;
fs.writeFileSync(path.join(path.dirname(entry), 'index.mjs'), text);

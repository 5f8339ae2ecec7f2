// The compiled addon (binding.gyp); requiring this throws where it was not built, and the record
// layer then uses node:crypto.
module.exports = require('./build/Release/iotsafe_aead.node');

// ajv-cli has no --discriminator flag: turn on ajv's `discriminator` option and keyword, so the
// schemas' discriminator hint is checked (any other unknown keyword still fails strict mode).
module.exports = (ajv) => {
  ajv.opts.discriminator = true;
  ajv.addKeyword(require("ajv/dist/vocabularies/discriminator").default);
};

/**
 * Fastify validates with Ajv set to coerce types (`coerceTypes: 'array'`) in every part of a
 * request. A query string or a path needs it, since they arrive as text; in a JSON body it turned
 * `{"disabled": null}` into `false`, re-enabling an account, and `{"name": ["x"]}` into `"x"` (a
 * review's find). Here bodies are validated as sent, and the other parts coerced as before, by
 * Fastify's own compiler (same options, formats and shared schemas).
 */
import { AjvCompiler, type ValidatorFactory } from '@fastify/ajv-compiler';

const compilers = AjvCompiler();

export const exactBodies: ValidatorFactory = (externalSchemas, options) => {
  const coercing = compilers(externalSchemas, options);
  // JSON Type Definition schemas (never used here) have no coercion to turn off.
  if (options?.mode === 'JTD') return coercing;
  const exact = compilers(externalSchemas, { ...options, customOptions: { ...options?.customOptions, coerceTypes: false } });
  return (route) => (route.httpPart === 'body' ? exact : coercing)(route);
};

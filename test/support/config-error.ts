/**
 * The `ConfigError` a call throws, for tests of option validation: fails the test when the call
 * throws nothing or something else.
 */
import { expect } from 'vitest';
import { ConfigError } from '../../src/errors.js';

export function configErrorOf(fn: () => unknown): ConfigError {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

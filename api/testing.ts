// ferry's test helpers: what a migration project's tests import from 'ferry/testing'.
export { transformRows, TransformRowError, type TestEvent, type TransformRowsOptions } from '../transform/testing.ts';

// `express4` is an npm alias of Express 4 (dev dependency); it shares @types/express's API surface.
declare module 'express4' {
  import express from 'express';
  export default express;
}

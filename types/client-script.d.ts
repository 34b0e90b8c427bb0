// Types for the client's <script> bundle (herald/client/script), which defines one global: `Herald`,
// the same API as `import * as Herald from "herald/client"`. Reference it from a page's TypeScript or
// checked JavaScript with: /// <reference types="herald/client/script" />
import type * as HeraldClientModule from "../dist/client/index.js";

declare global {
  const Herald: typeof HeraldClientModule;
}

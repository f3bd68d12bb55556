/** Types of bin/source-state.js (plain JavaScript, run before any TypeScript loader). */
export declare const BUILD_INPUTS: readonly string[];
export declare function sourceStamp(root: string): string;
export declare function sourceContent(root: string): string;

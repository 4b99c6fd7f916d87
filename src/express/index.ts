/** Express adapters (Express 4 and 5). */
export {};

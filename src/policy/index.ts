/** realip/policy entry (filled in by its issue). */
export {};

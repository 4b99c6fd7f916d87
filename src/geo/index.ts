/** realip/geo entry (filled in by its issue). */
export {};

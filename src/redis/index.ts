/** realip/redis entry (filled in by its issue). */
export {};

// Catalog lookups (movies, theaters, shows) with a short in-memory cache, so a list of bookings or
// showtimes does not fetch the same movie or theater twice. The catalog changes rarely; a page reload
// or forget() starts afresh (admin screens call it after every write). Also the city picker of the pages
// that list by city, and the city it remembers.

import { api } from "./api.js";
import { h } from "./dom.js";

const TTL_MS = 60_000;
const cache = new Map();

function cached(key, load) {
  const hit = cache.get(key);
  if (hit && Date.now() - hit.at < TTL_MS) return hit.value;
  const value = load().catch((error) => {
    cache.delete(key);
    throw error;
  });
  cache.set(key, { at: Date.now(), value });
  return value;
}

export const forget = () => cache.clear();

export const movie = (id) => cached(`movie:${id}`, () => api(`movies/${id}`, { auth: false }));
export const theater = (id) => cached(`theater:${id}`, () => api(`theaters/${id}`, { auth: false }));
export const show = (id) => cached(`show:${id}`, () => api(`shows/${id}`, { auth: false }));
export const movies = () => cached("movies", () => api("movies", { query: { limit: 500 }, auth: false }));
export const theaters = () => cached("theaters", () => api("theaters", { query: { limit: 500 }, auth: false }));

/** Cities that have a theater, alphabetically. */
export async function cities() {
  const all = await theaters();
  return [...new Set(all.map((t) => t.city))].sort((a, b) => a.localeCompare(b));
}

/** A show with its movie and theater: {show, movie, theater}. */
export async function showDetails(id) {
  const s = await show(id);
  const [m, t] = await Promise.all([movie(s.movie_id), theater(s.theater_id)]);
  return { show: s, movie: m, theater: t };
}

/** Every show on sale of a movie (or of a theater), earliest first. */
export function showsOnSale(filter) {
  return api("shows", { query: { ...filter, on_sale: true, limit: 1000 }, auth: false });
}

const CITY_KEY = "seatwise.city";
export const preferredCity = () => localStorage.getItem(CITY_KEY) || "";
export const setPreferredCity = (city) => localStorage.setItem(CITY_KEY, city || "");

/**
 * The city picker of a listing page: "All cities", then every city with a theater; the one chosen is the
 * page's ?city= or else the remembered one, if it still has a theater. Its value is the city ("": all).
 */
export async function citySelect(query) {
  const all = await cities();
  let city = query.get("city") ?? preferredCity();
  if (city && !all.includes(city)) city = "";
  return h(
    "select",
    { name: "city" },
    h("option", { value: "" }, "All cities"),
    all.map((c) => h("option", { value: c, selected: c === city }, c)),
  );
}

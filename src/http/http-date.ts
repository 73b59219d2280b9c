const MONTHS: readonly string[] = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// RFC 9110 §5.6.7; HTTP-date is case-sensitive. The day name is checked for shape only.
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);
const MS_PER_400_YEARS = 146_097 * 86_400_000; // the Gregorian calendar repeats every 400 years

/**
 * Formats a time in milliseconds as an IMF-fixdate (RFC 9110 §5.6.7), as sent in Last-Modified.
 *
 * Truncates to whole seconds, the same `Math.floor(ms / 1000)` the date checkers compare with, so
 * a client echoing Last-Modified back always gets an exact match.
 */
export function httpDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  // One entry remembered: a hot file's Last-Modified is formatted once, not on every request.
  if (second !== lastDateSecond) {
    lastDateSecond = second;
    lastDate = new Date(second * 1000).toUTCString();
  }
  return lastDate;
}
let lastDateSecond = Number.NaN;
let lastDate = '';

/**
 * Parses an HTTP-date in any of the three forms of RFC 9110 §5.6.7 into seconds since the epoch.
 *
 * Returns undefined for anything else (empty, a list of dates, a bare number, ISO 8601, a
 * lowercase month, Feb 30), unlike Date.parse, which accepts '2020' or '1'. A two-digit rfc850
 * year is taken as the most recent past year with those digits when it would be more than 50
 * years after `nowMs`.
 */
export function parseHttpDate(value: string, nowMs: number = Date.now()): number | undefined {
  let match = IMF_FIXDATE.exec(value);
  if (match !== null) return toSeconds(match[3], match[2], match[1], match[4], match[5], match[6]);
  match = RFC850_DATE.exec(value);
  if (match !== null) {
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = nowYear - (nowYear % 100) + Number(match[3]);
    if (year > nowYear + 50) year -= 100;
    return toSeconds(String(year), match[2], match[1], match[4], match[5], match[6]);
  }
  match = ASCTIME_DATE.exec(value);
  if (match !== null) return toSeconds(match[6], match[1], match[2], match[3], match[4], match[5]);
  return undefined;
}

/** Validates the calendar fields captured by the date regexes and converts them to epoch seconds. */
function toSeconds(
  yearText: string | undefined,
  monthName: string | undefined,
  dayText: string | undefined,
  hourText: string | undefined,
  minuteText: string | undefined,
  secondText: string | undefined,
): number | undefined {
  const year = Number(yearText);
  const month = MONTHS.indexOf(monthName ?? '');
  const day = Number(dayText); // Number(' 6') is 6: asctime pads the day with a space
  const hour = Number(hourText);
  const minute = Number(minuteText);
  const second = Number(secondText);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 1 && leap ? 29 : DAYS_IN_MONTH[month];
  // Written so that NaN fails too.
  if (!(daysInMonth !== undefined && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59)) {
    return undefined;
  }
  // Date.UTC maps years 0–99 to 1900–1999, so shift such years by a whole 400-year cycle.
  const ms =
    year < 100
      ? Date.UTC(year + 400, month, day, hour, minute, second) - MS_PER_400_YEARS
      : Date.UTC(year, month, day, hour, minute, second);
  return ms / 1000;
}

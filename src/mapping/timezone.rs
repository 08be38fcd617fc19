//! Zendesk's user `time_zone` only accepts Rails (`ActiveSupport::TimeZone`) names, but Segment's `traits.timezone` carries IANA names, so this table translates one into the other.

/// Every entry of Rails' `ActiveSupport::TimeZone::MAPPING` as (Zendesk name, IANA name),
/// in the order Rails lists them. Zendesk's `time_zone` accepts exactly these names.
///
/// The IANA column is Rails' own spelling (Rails 8.1: "International Date Line West" is
/// `Etc/GMT+12`, "Astana" is `Asia/Almaty`, "Canberra" is `Australia/Canberra`, "Greenland"
/// is `America/Nuuk`; Rails 8.1's newest entry "Asuncion" is left out: Zendesk may run an older list and reject it), including its legacy identifiers
/// (`Europe/Kiev`, `Asia/Rangoon`); other spellings of those zones are in [`ALIASES`].
const ZONES: &[(&str, &str)] = &[
    ("International Date Line West", "Etc/GMT+12"),
    ("Midway Island", "Pacific/Midway"),
    ("American Samoa", "Pacific/Pago_Pago"),
    ("Hawaii", "Pacific/Honolulu"),
    ("Alaska", "America/Juneau"),
    ("Pacific Time (US & Canada)", "America/Los_Angeles"),
    ("Tijuana", "America/Tijuana"),
    ("Mountain Time (US & Canada)", "America/Denver"),
    ("Arizona", "America/Phoenix"),
    ("Chihuahua", "America/Chihuahua"),
    ("Mazatlan", "America/Mazatlan"),
    ("Central Time (US & Canada)", "America/Chicago"),
    ("Saskatchewan", "America/Regina"),
    ("Guadalajara", "America/Mexico_City"),
    ("Mexico City", "America/Mexico_City"),
    ("Monterrey", "America/Monterrey"),
    ("Central America", "America/Guatemala"),
    ("Eastern Time (US & Canada)", "America/New_York"),
    ("Indiana (East)", "America/Indiana/Indianapolis"),
    ("Bogota", "America/Bogota"),
    ("Lima", "America/Lima"),
    ("Quito", "America/Lima"),
    ("Atlantic Time (Canada)", "America/Halifax"),
    ("Caracas", "America/Caracas"),
    ("La Paz", "America/La_Paz"),
    ("Santiago", "America/Santiago"),
    ("Newfoundland", "America/St_Johns"),
    ("Brasilia", "America/Sao_Paulo"),
    ("Buenos Aires", "America/Argentina/Buenos_Aires"),
    ("Montevideo", "America/Montevideo"),
    ("Georgetown", "America/Guyana"),
    ("Puerto Rico", "America/Puerto_Rico"),
    ("Greenland", "America/Nuuk"),
    ("Mid-Atlantic", "Atlantic/South_Georgia"),
    ("Azores", "Atlantic/Azores"),
    ("Cape Verde Is.", "Atlantic/Cape_Verde"),
    ("Dublin", "Europe/Dublin"),
    ("Edinburgh", "Europe/London"),
    ("Lisbon", "Europe/Lisbon"),
    ("London", "Europe/London"),
    ("Casablanca", "Africa/Casablanca"),
    ("Monrovia", "Africa/Monrovia"),
    ("UTC", "Etc/UTC"),
    ("Belgrade", "Europe/Belgrade"),
    ("Bratislava", "Europe/Bratislava"),
    ("Budapest", "Europe/Budapest"),
    ("Ljubljana", "Europe/Ljubljana"),
    ("Prague", "Europe/Prague"),
    ("Sarajevo", "Europe/Sarajevo"),
    ("Skopje", "Europe/Skopje"),
    ("Warsaw", "Europe/Warsaw"),
    ("Zagreb", "Europe/Zagreb"),
    ("Brussels", "Europe/Brussels"),
    ("Copenhagen", "Europe/Copenhagen"),
    ("Madrid", "Europe/Madrid"),
    ("Paris", "Europe/Paris"),
    ("Amsterdam", "Europe/Amsterdam"),
    ("Berlin", "Europe/Berlin"),
    ("Bern", "Europe/Zurich"),
    ("Zurich", "Europe/Zurich"),
    ("Rome", "Europe/Rome"),
    ("Stockholm", "Europe/Stockholm"),
    ("Vienna", "Europe/Vienna"),
    ("West Central Africa", "Africa/Algiers"),
    ("Bucharest", "Europe/Bucharest"),
    ("Cairo", "Africa/Cairo"),
    ("Helsinki", "Europe/Helsinki"),
    ("Kyiv", "Europe/Kiev"),
    ("Riga", "Europe/Riga"),
    ("Sofia", "Europe/Sofia"),
    ("Tallinn", "Europe/Tallinn"),
    ("Vilnius", "Europe/Vilnius"),
    ("Athens", "Europe/Athens"),
    ("Istanbul", "Europe/Istanbul"),
    ("Minsk", "Europe/Minsk"),
    ("Jerusalem", "Asia/Jerusalem"),
    ("Harare", "Africa/Harare"),
    ("Pretoria", "Africa/Johannesburg"),
    ("Kaliningrad", "Europe/Kaliningrad"),
    ("Moscow", "Europe/Moscow"),
    ("St. Petersburg", "Europe/Moscow"),
    ("Volgograd", "Europe/Volgograd"),
    ("Samara", "Europe/Samara"),
    ("Kuwait", "Asia/Kuwait"),
    ("Riyadh", "Asia/Riyadh"),
    ("Nairobi", "Africa/Nairobi"),
    ("Baghdad", "Asia/Baghdad"),
    ("Tehran", "Asia/Tehran"),
    ("Abu Dhabi", "Asia/Muscat"),
    ("Muscat", "Asia/Muscat"),
    ("Baku", "Asia/Baku"),
    ("Tbilisi", "Asia/Tbilisi"),
    ("Yerevan", "Asia/Yerevan"),
    ("Kabul", "Asia/Kabul"),
    ("Ekaterinburg", "Asia/Yekaterinburg"),
    ("Islamabad", "Asia/Karachi"),
    ("Karachi", "Asia/Karachi"),
    ("Tashkent", "Asia/Tashkent"),
    ("Chennai", "Asia/Kolkata"),
    ("Kolkata", "Asia/Kolkata"),
    ("Mumbai", "Asia/Kolkata"),
    ("New Delhi", "Asia/Kolkata"),
    ("Kathmandu", "Asia/Kathmandu"),
    ("Dhaka", "Asia/Dhaka"),
    ("Sri Jayawardenepura", "Asia/Colombo"),
    ("Almaty", "Asia/Almaty"),
    ("Astana", "Asia/Almaty"),
    ("Novosibirsk", "Asia/Novosibirsk"),
    ("Rangoon", "Asia/Rangoon"),
    ("Bangkok", "Asia/Bangkok"),
    ("Hanoi", "Asia/Bangkok"),
    ("Jakarta", "Asia/Jakarta"),
    ("Krasnoyarsk", "Asia/Krasnoyarsk"),
    ("Beijing", "Asia/Shanghai"),
    ("Chongqing", "Asia/Chongqing"),
    ("Hong Kong", "Asia/Hong_Kong"),
    ("Urumqi", "Asia/Urumqi"),
    ("Kuala Lumpur", "Asia/Kuala_Lumpur"),
    ("Singapore", "Asia/Singapore"),
    ("Taipei", "Asia/Taipei"),
    ("Perth", "Australia/Perth"),
    ("Irkutsk", "Asia/Irkutsk"),
    ("Ulaanbaatar", "Asia/Ulaanbaatar"),
    ("Seoul", "Asia/Seoul"),
    ("Osaka", "Asia/Tokyo"),
    ("Sapporo", "Asia/Tokyo"),
    ("Tokyo", "Asia/Tokyo"),
    ("Yakutsk", "Asia/Yakutsk"),
    ("Darwin", "Australia/Darwin"),
    ("Adelaide", "Australia/Adelaide"),
    ("Canberra", "Australia/Canberra"),
    ("Melbourne", "Australia/Melbourne"),
    ("Sydney", "Australia/Sydney"),
    ("Brisbane", "Australia/Brisbane"),
    ("Hobart", "Australia/Hobart"),
    ("Vladivostok", "Asia/Vladivostok"),
    ("Guam", "Pacific/Guam"),
    ("Port Moresby", "Pacific/Port_Moresby"),
    ("Magadan", "Asia/Magadan"),
    ("Srednekolymsk", "Asia/Srednekolymsk"),
    ("Solomon Is.", "Pacific/Guadalcanal"),
    ("New Caledonia", "Pacific/Noumea"),
    ("Fiji", "Pacific/Fiji"),
    ("Kamchatka", "Asia/Kamchatka"),
    ("Marshall Is.", "Pacific/Majuro"),
    ("Auckland", "Pacific/Auckland"),
    ("Wellington", "Pacific/Auckland"),
    ("Nuku'alofa", "Pacific/Tongatapu"),
    ("Tokelau Is.", "Pacific/Fakaofo"),
    ("Chatham Is.", "Pacific/Chatham"),
    ("Samoa", "Pacific/Apia"),
];

/// The one Zendesk name chosen for each IANA zone that several Zendesk names share, as
/// (IANA name, Zendesk name). Rule: the name of the IANA zone's own city, except
/// `Asia/Kolkata` → "New Delhi" (the capital) and `Asia/Muscat` → "Abu Dhabi" (senders in
/// the UAE, by far the larger population, send `Asia/Dubai`, a link to the same zone).
/// A test checks that every shared IANA zone in [`ZONES`] has exactly one entry here.
const PREFERRED: &[(&str, &str)] = &[
    ("America/Mexico_City", "Mexico City"), // also "Guadalajara"
    ("America/Lima", "Lima"),               // also "Quito"
    ("Europe/London", "London"),            // also "Edinburgh"
    ("Europe/Zurich", "Zurich"),            // also "Bern"
    ("Europe/Moscow", "Moscow"),            // also "St. Petersburg"
    ("Asia/Muscat", "Abu Dhabi"),           // also "Muscat"
    ("Asia/Karachi", "Karachi"),            // also "Islamabad"
    ("Asia/Kolkata", "New Delhi"),          // also "Chennai", "Kolkata", "Mumbai"
    ("Asia/Almaty", "Almaty"),              // also "Astana"
    ("Asia/Bangkok", "Bangkok"),            // also "Hanoi"
    ("Asia/Tokyo", "Tokyo"),                // also "Osaka", "Sapporo"
    ("Pacific/Auckland", "Auckland"),       // also "Wellington"
];

/// Other IANA names for a zone named in [`ZONES`] or [`EQUIVALENTS`], as (alias, IANA name
/// used there). Each is a link in tzdata (`backward`, or a renamed zone) to that same zone,
/// or, for the `Etc/GMT` family, a zone identical to `Etc/UTC` apart from its abbreviation.
/// Browsers (ICU/CLDR) still report several legacy spellings, e.g. `Asia/Calcutta`.
const ALIASES: &[(&str, &str)] = &[
    // UTC and GMT spellings.
    ("Etc/UCT", "Etc/UTC"),
    ("UCT", "Etc/UTC"),
    ("Etc/Universal", "Etc/UTC"),
    ("Universal", "Etc/UTC"),
    ("Etc/Zulu", "Etc/UTC"),
    ("Zulu", "Etc/UTC"),
    ("Etc/GMT", "Etc/UTC"),
    ("GMT", "Etc/UTC"),
    ("Etc/GMT0", "Etc/UTC"),
    ("GMT0", "Etc/UTC"),
    ("Etc/GMT+0", "Etc/UTC"),
    ("Etc/GMT-0", "Etc/UTC"),
    ("Etc/Greenwich", "Etc/UTC"),
    ("Greenwich", "Etc/UTC"),
    // United States.
    ("US/Pacific", "America/Los_Angeles"),
    ("US/Mountain", "America/Denver"),
    ("US/Arizona", "America/Phoenix"),
    ("US/Central", "America/Chicago"),
    ("US/Eastern", "America/New_York"),
    ("US/East-Indiana", "America/Indiana/Indianapolis"),
    ("America/Indianapolis", "America/Indiana/Indianapolis"),
    ("America/Fort_Wayne", "America/Indiana/Indianapolis"),
    ("US/Michigan", "America/Detroit"),
    ("US/Alaska", "America/Anchorage"),
    ("US/Hawaii", "Pacific/Honolulu"),
    ("US/Samoa", "Pacific/Pago_Pago"),
    ("Pacific/Samoa", "Pacific/Pago_Pago"),
    // POSIX-style names, links to these cities since tzdata 2024b.
    ("PST8PDT", "America/Los_Angeles"),
    ("MST7MDT", "America/Denver"),
    ("CST6CDT", "America/Chicago"),
    ("EST5EDT", "America/New_York"),
    // Canada.
    ("Canada/Pacific", "America/Vancouver"),
    ("Canada/Mountain", "America/Edmonton"),
    ("Canada/Saskatchewan", "America/Regina"),
    ("Canada/Central", "America/Winnipeg"),
    ("Canada/Eastern", "America/Toronto"),
    ("America/Montreal", "America/Toronto"),
    ("Canada/Atlantic", "America/Halifax"),
    ("Canada/Newfoundland", "America/St_Johns"),
    // Mexico, Central and South America, Greenland.
    ("Mexico/BajaNorte", "America/Tijuana"),
    ("Mexico/BajaSur", "America/Mazatlan"),
    ("Mexico/General", "America/Mexico_City"),
    ("Chile/Continental", "America/Santiago"),
    ("Brazil/East", "America/Sao_Paulo"),
    ("America/Buenos_Aires", "America/Argentina/Buenos_Aires"),
    ("America/Godthab", "America/Nuuk"),
    // Europe.
    ("Eire", "Europe/Dublin"),
    ("GB", "Europe/London"),
    ("Europe/Belfast", "Europe/London"),
    ("Europe/Jersey", "Europe/London"),
    ("Europe/Guernsey", "Europe/London"),
    ("Europe/Isle_of_Man", "Europe/London"),
    ("Portugal", "Europe/Lisbon"),
    ("Poland", "Europe/Warsaw"),
    ("Europe/Podgorica", "Europe/Belgrade"),
    ("Europe/Oslo", "Europe/Berlin"), // a link to Europe/Berlin since tzdata 2022b
    ("Europe/Kyiv", "Europe/Kiev"),   // the current IANA spelling; Rails keeps the old one
    ("Turkey", "Europe/Istanbul"),
    ("Asia/Istanbul", "Europe/Istanbul"),
    ("W-SU", "Europe/Moscow"),
    // Africa and the Middle East.
    ("Egypt", "Africa/Cairo"),
    ("Israel", "Asia/Jerusalem"),
    ("Asia/Tel_Aviv", "Asia/Jerusalem"),
    ("Iran", "Asia/Tehran"),
    ("Asia/Dubai", "Asia/Muscat"), // Asia/Muscat is a link to Asia/Dubai
    // Asia.
    ("Asia/Calcutta", "Asia/Kolkata"),
    ("Asia/Katmandu", "Asia/Kathmandu"),
    ("Asia/Dacca", "Asia/Dhaka"),
    ("Asia/Yangon", "Asia/Rangoon"), // the current IANA spelling; Rails keeps the old one
    ("Asia/Saigon", "Asia/Ho_Chi_Minh"),
    ("PRC", "Asia/Shanghai"),
    ("Hongkong", "Asia/Hong_Kong"),
    ("ROC", "Asia/Taipei"),
    ("Asia/Ulan_Bator", "Asia/Ulaanbaatar"),
    ("ROK", "Asia/Seoul"),
    ("Japan", "Asia/Tokyo"),
    // Australia and the Pacific.
    ("Australia/West", "Australia/Perth"),
    ("Australia/North", "Australia/Darwin"),
    ("Australia/South", "Australia/Adelaide"),
    ("Australia/ACT", "Australia/Canberra"),
    ("Australia/Victoria", "Australia/Melbourne"),
    ("Australia/NSW", "Australia/Sydney"),
    ("Australia/Queensland", "Australia/Brisbane"),
    ("Australia/Tasmania", "Australia/Hobart"),
    ("NZ", "Pacific/Auckland"),
    ("NZ-CHAT", "Pacific/Chatham"),
];

/// Common IANA zones absent from Rails' table whose current UTC offset and daylight-saving
/// rules are those of exactly the Zendesk zone given, as (IANA name, Zendesk name).
/// Their histories differ, which does not matter for a user's time zone today.
const EQUIVALENTS: &[(&str, &str)] = &[
    // AKST/AKDT (UTC-9/-8) on US rules, as America/Juneau.
    ("America/Anchorage", "Alaska"),
    // PST/PDT (UTC-8/-7) on US rules, which Canada follows, as America/Los_Angeles.
    ("America/Vancouver", "Pacific Time (US & Canada)"),
    // MST/MDT (UTC-7/-6) on US rules, as America/Denver.
    ("America/Edmonton", "Mountain Time (US & Canada)"),
    // CST/CDT (UTC-6/-5) on US rules, as America/Chicago.
    ("America/Winnipeg", "Central Time (US & Canada)"),
    // EST/EDT (UTC-5/-4) on US rules, as America/New_York.
    ("America/Detroit", "Eastern Time (US & Canada)"),
    ("America/Toronto", "Eastern Time (US & Canada)"),
    // Vietnam: UTC+7 all year, as Asia/Bangkok; "Hanoi" is Vietnam's own entry.
    ("Asia/Ho_Chi_Minh", "Hanoi"),
    // Nigeria and most of West/Central Africa: WAT, UTC+1 all year, as Africa/Algiers.
    ("Africa/Lagos", "West Central Africa"),
];

/// Zendesk's name for a time zone given as an IANA name (case-insensitive match on the IANA name),
/// or as a Zendesk name already (returned in its canonical spelling). None when unknown.
pub fn zendesk_time_zone(name: &str) -> Option<&'static str> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    if let Some(&(zendesk, _)) = ZONES.iter().find(|(z, _)| same_name(z, name)) {
        return Some(zendesk);
    }
    let iana = lookup(ALIASES, name).unwrap_or(name);
    if let Some(zendesk) = lookup(PREFERRED, iana) {
        return Some(zendesk);
    }
    if let Some(&(zendesk, _)) = ZONES.iter().find(|(_, i)| same_name(i, iana)) {
        return Some(zendesk);
    }
    lookup(EQUIVALENTS, iana)
}

/// The value for `key` (ASCII case-insensitive) in a (key, value) table.
fn lookup(table: &'static [(&'static str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| same_name(k, key)).map(|&(_, v)| v)
}

/// ASCII case-insensitive equality, lengths first: a lookup scans hundreds of names for every
/// identify with a time zone, and nearly all differ in length.
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iana_of(zendesk: &str) -> &'static str {
        ZONES
            .iter()
            .find(|(z, _)| *z == zendesk)
            .map(|&(_, i)| i)
            .unwrap_or_else(|| panic!("{zendesk:?} is not a Zendesk name"))
    }

    fn zendesk_names_for(iana: &str) -> usize {
        ZONES.iter().filter(|(_, i)| *i == iana).count()
    }

    #[test]
    fn common_zones() {
        for (input, expected) in [
            ("America/Los_Angeles", "Pacific Time (US & Canada)"),
            ("America/Denver", "Mountain Time (US & Canada)"),
            ("America/Chicago", "Central Time (US & Canada)"),
            ("America/New_York", "Eastern Time (US & Canada)"),
            ("America/Phoenix", "Arizona"),
            ("Pacific/Honolulu", "Hawaii"),
            ("America/Juneau", "Alaska"),
            ("Europe/London", "London"),
            ("Europe/Berlin", "Berlin"),
            ("Europe/Paris", "Paris"),
            ("Europe/Kiev", "Kyiv"),
            ("Asia/Kolkata", "New Delhi"),
            ("Asia/Tokyo", "Tokyo"),
            ("Asia/Shanghai", "Beijing"),
            ("Australia/Sydney", "Sydney"),
            ("America/Sao_Paulo", "Brasilia"),
            ("America/Mexico_City", "Mexico City"),
            ("Etc/UTC", "UTC"),
            ("UTC", "UTC"),
            ("Etc/GMT+12", "International Date Line West"),
        ] {
            assert_eq!(zendesk_time_zone(input), Some(expected), "{input}");
        }
    }

    #[test]
    fn iana_match_is_case_insensitive_and_trimmed() {
        assert_eq!(zendesk_time_zone("america/los_angeles"), Some("Pacific Time (US & Canada)"));
        assert_eq!(zendesk_time_zone("EUROPE/LONDON"), Some("London"));
        assert_eq!(zendesk_time_zone("  Asia/Tokyo\n"), Some("Tokyo"));
        assert_eq!(zendesk_time_zone("\tus/eastern "), Some("Eastern Time (US & Canada)"));
        assert_eq!(zendesk_time_zone("utc"), Some("UTC"));
    }

    #[test]
    fn aliases() {
        for (input, expected) in [
            ("US/Pacific", "Pacific Time (US & Canada)"),
            ("US/Eastern", "Eastern Time (US & Canada)"),
            ("US/Central", "Central Time (US & Canada)"),
            ("US/Mountain", "Mountain Time (US & Canada)"),
            ("US/Arizona", "Arizona"),
            ("US/Alaska", "Alaska"),
            ("US/Hawaii", "Hawaii"),
            ("Etc/GMT", "UTC"),
            ("GMT", "UTC"),
            ("Etc/Universal", "UTC"),
            ("Europe/Kyiv", "Kyiv"),
            ("Asia/Calcutta", "New Delhi"),
            ("Asia/Saigon", "Hanoi"),
            ("Asia/Katmandu", "Kathmandu"),
            ("Asia/Rangoon", "Rangoon"),
            ("Asia/Yangon", "Rangoon"),
            ("America/Buenos_Aires", "Buenos Aires"),
            ("America/Indianapolis", "Indiana (East)"),
            ("America/Godthab", "Greenland"),
            ("Canada/Eastern", "Eastern Time (US & Canada)"),
            ("Canada/Pacific", "Pacific Time (US & Canada)"),
            ("Australia/ACT", "Canberra"),
            ("Europe/Belfast", "London"),
            ("Europe/Oslo", "Berlin"),
            ("Asia/Dubai", "Abu Dhabi"),
            ("Japan", "Tokyo"),
        ] {
            assert_eq!(zendesk_time_zone(input), Some(expected), "{input}");
        }
    }

    #[test]
    fn equivalent_zones() {
        for (input, expected) in [
            ("America/Detroit", "Eastern Time (US & Canada)"),
            ("America/Toronto", "Eastern Time (US & Canada)"),
            ("America/Vancouver", "Pacific Time (US & Canada)"),
            ("America/Edmonton", "Mountain Time (US & Canada)"),
            ("America/Winnipeg", "Central Time (US & Canada)"),
            ("America/Anchorage", "Alaska"),
            ("Asia/Ho_Chi_Minh", "Hanoi"),
            ("Africa/Lagos", "West Central Africa"),
        ] {
            assert_eq!(zendesk_time_zone(input), Some(expected), "{input}");
        }
    }

    #[test]
    fn zendesk_names_come_back_canonical() {
        assert_eq!(zendesk_time_zone("pacific time (us & canada)"), Some("Pacific Time (US & Canada)"));
        assert_eq!(zendesk_time_zone(" EDINBURGH "), Some("Edinburgh"));
        assert_eq!(zendesk_time_zone("nuku'alofa"), Some("Nuku'alofa"));
        for &(zendesk, _) in ZONES {
            assert_eq!(zendesk_time_zone(zendesk), Some(zendesk));
            assert_eq!(zendesk_time_zone(&zendesk.to_lowercase()), Some(zendesk));
            assert_eq!(zendesk_time_zone(&zendesk.to_uppercase()), Some(zendesk));
        }
    }

    #[test]
    fn unknown_input_is_none() {
        let huge = "America/New_York".repeat(100_000);
        for input in [
            "",
            "   ",
            "\n\t",
            "Mars/Olympus_Mons",
            "America/",
            "America",
            "Pacific Time",
            "PST",
            "+05:30",
            "Europe/Zürich",
            "東京",
            "\u{0}",
            "Europe/London\u{0}",
            "America/New_York/",
            huge.as_str(),
        ] {
            assert_eq!(zendesk_time_zone(input), None, "{input:?}");
        }
    }

    #[test]
    fn every_table_entry_round_trips() {
        for &(zendesk, iana) in ZONES {
            let back = zendesk_time_zone(iana).unwrap_or_else(|| panic!("{iana} ({zendesk}) does not map back"));
            assert_eq!(iana_of(back), iana, "{iana} ({zendesk}) mapped to {back}");
            if zendesk_names_for(iana) == 1 {
                assert_eq!(back, zendesk, "{iana}");
            }
        }
    }

    #[test]
    fn no_duplicate_zendesk_names() {
        for (n, &(a, _)) in ZONES.iter().enumerate() {
            for &(b, _) in &ZONES[n + 1..] {
                assert!(!a.eq_ignore_ascii_case(b), "{a} appears twice");
            }
        }
        assert_eq!(ZONES.len(), 151);
    }

    #[test]
    fn every_shared_zone_has_exactly_one_preferred_name() {
        for &(_, iana) in ZONES {
            let preferred = PREFERRED.iter().filter(|(i, _)| *i == iana).count();
            let expected = usize::from(zendesk_names_for(iana) > 1);
            assert_eq!(preferred, expected, "{iana}");
        }
        for &(iana, zendesk) in PREFERRED {
            assert_eq!(iana_of(zendesk), iana, "{zendesk}");
        }
    }

    #[test]
    fn aliases_resolve_and_shadow_nothing() {
        for (n, &(alias, target)) in ALIASES.iter().enumerate() {
            let known = ZONES.iter().any(|(_, i)| *i == target) || EQUIVALENTS.iter().any(|(i, _)| *i == target);
            assert!(known, "{alias} -> {target}, which is not in ZONES or EQUIVALENTS");
            assert!(
                ZONES.iter().all(|(z, i)| !z.eq_ignore_ascii_case(alias) && !i.eq_ignore_ascii_case(alias)),
                "{alias} is already in ZONES"
            );
            assert!(
                EQUIVALENTS.iter().all(|(i, _)| !i.eq_ignore_ascii_case(alias)),
                "{alias} is already in EQUIVALENTS"
            );
            assert!(ALIASES[n + 1..].iter().all(|(a, _)| !a.eq_ignore_ascii_case(alias)), "{alias} appears twice");
        }
    }

    #[test]
    fn equivalents_name_real_zones_not_in_the_table() {
        for (n, &(iana, zendesk)) in EQUIVALENTS.iter().enumerate() {
            iana_of(zendesk);
            assert!(ZONES.iter().all(|(_, i)| !i.eq_ignore_ascii_case(iana)), "{iana} is already in ZONES");
            assert!(EQUIVALENTS[n + 1..].iter().all(|(i, _)| !i.eq_ignore_ascii_case(iana)), "{iana} appears twice");
        }
    }
}

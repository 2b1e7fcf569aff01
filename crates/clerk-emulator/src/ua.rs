//! A small User-Agent reader for `latest_activity` (device, browser,
//! version). Clerk derives the same fields server-side; this covers the
//! common browsers and Latchkey's own `Latchkey/<v> (<OS>; <arch>)`.

#[derive(Debug, Default, PartialEq, Eq)]
pub struct UaInfo {
    pub device_type: Option<String>,
    pub browser_name: Option<String>,
    pub browser_version: Option<String>,
    pub is_mobile: bool,
}

/// Reads device type, browser and version from a User-Agent string.
pub fn parse(ua: &str) -> UaInfo {
    let mut info = UaInfo::default();
    if ua.is_empty() {
        return info;
    }
    let version_after = |token: &str| -> Option<String> {
        let i = ua.find(token)? + token.len();
        let v: String = ua[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        (!v.is_empty()).then_some(v)
    };
    // Device, from the platform part.
    let device = if ua.contains("iPhone") {
        info.is_mobile = true;
        "iPhone"
    } else if ua.contains("iPad") {
        info.is_mobile = true;
        "iPad"
    } else if ua.contains("Android") {
        info.is_mobile = true;
        "Android"
    } else if ua.contains("Macintosh") || ua.contains("macOS") {
        "Macintosh"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Linux") || ua.contains("X11") {
        "Linux"
    } else {
        ""
    };
    if !device.is_empty() {
        info.device_type = Some(device.to_owned());
    }
    // Browser, most specific token first (Chrome UAs also say Safari).
    let browsers: [(&str, &str); 6] = [
        ("Latchkey/", "Latchkey"),
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Version/", "Safari"),
        ("node", "Node.js"),
    ];
    for (token, name) in browsers {
        if ua.contains(token) {
            info.browser_name = Some(name.to_owned());
            info.browser_version = if token == "node" {
                None
            } else {
                version_after(token)
            };
            break;
        }
    }
    if info.browser_name.is_none()
        && let Some((name, rest)) = ua.split_once('/')
        && !name.is_empty()
        && name.len() <= 40
        && !name.contains(' ')
    {
        info.browser_name = Some(name.to_owned());
        let v: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        info.browser_version = (!v.is_empty()).then_some(v);
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_common_user_agents() {
        let iphone = parse(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        );
        assert_eq!(iphone.device_type.as_deref(), Some("iPhone"));
        assert_eq!(iphone.browser_name.as_deref(), Some("Safari"));
        assert_eq!(iphone.browser_version.as_deref(), Some("18.1"));
        assert!(iphone.is_mobile);
        let chrome = parse(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        );
        assert_eq!(
            (
                chrome.device_type.as_deref(),
                chrome.browser_name.as_deref()
            ),
            (Some("Windows"), Some("Chrome"))
        );
        assert_eq!(chrome.browser_version.as_deref(), Some("131.0.0.0"));
        let lk = parse("Latchkey/0.1.0 (Linux; x86_64)");
        assert_eq!(lk.browser_name.as_deref(), Some("Latchkey"));
        assert_eq!(lk.browser_version.as_deref(), Some("0.1.0"));
        assert_eq!(lk.device_type.as_deref(), Some("Linux"));
        assert!(!lk.is_mobile);
        assert_eq!(parse(""), UaInfo::default());
    }
}

//! A QR code of a URL as text (two modules per character cell), light modules drawn as
//! blocks so it scans on the usual dark terminal background.
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

/// The code for `data`, or `None` when it is too long to encode.
pub(super) fn render(data: &str) -> Option<String> {
    let code = QrCode::new(data.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

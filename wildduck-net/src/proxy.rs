//! The PROXY protocol (HAProxy's, versions 1 and 2): a load balancer in front of the server
//! opens each connection with a header naming the client it forwards. Only the source
//! address is used; TLVs of version 2 are read and skipped.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

/// The first 12 bytes of a version 2 header.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest version 1 header, CRLF included (the specification's limit).
const V1_MAX: usize = 107;

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("PROXY header: {why}"))
}

/// Reads one PROXY header (either version) from the start of a connection, and not a byte
/// beyond it. `Some(source)`: the client the proxy forwards; `None`: the header says the
/// connection's own endpoints apply (v1 `UNKNOWN`, v2 `LOCAL` or a non-IP family).
pub async fn read_header<R: AsyncRead + Unpin>(reader: &mut R) -> io::Result<Option<SocketAddr>> {
    let first = reader.read_u8().await?;
    match first {
        b'P' => read_v1(reader).await,
        b'\r' => read_v2(reader).await,
        _ => Err(invalid("the connection does not start with one")),
    }
}

/// Version 1: `PROXY TCP4 192.0.2.1 198.51.100.1 56324 143\r\n`, read byte by byte so the
/// client's own first bytes stay in the socket.
async fn read_v1<R: AsyncRead + Unpin>(reader: &mut R) -> io::Result<Option<SocketAddr>> {
    let mut line = vec![b'P'];
    while !line.ends_with(b"\r\n") {
        if line.len() == V1_MAX {
            return Err(invalid("version 1 line too long"));
        }
        line.push(reader.read_u8().await?);
    }
    let text = std::str::from_utf8(&line[..line.len() - 2]).map_err(|_| invalid("not ASCII"))?;
    parse_v1(text)
}

fn parse_v1(text: &str) -> io::Result<Option<SocketAddr>> {
    let mut fields = text.split(' ');
    if fields.next() != Some("PROXY") {
        return Err(invalid("version 1 line does not start with PROXY"));
    }
    let family = fields.next().ok_or_else(|| invalid("no protocol"))?;
    if family == "UNKNOWN" {
        return Ok(None);
    }
    let (Some(source), Some(destination), Some(source_port), Some(destination_port), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(invalid("version 1 needs two addresses and two ports"));
    };
    let address = |text: &str| -> io::Result<IpAddr> {
        let ip: IpAddr = text.parse().map_err(|_| invalid("bad address"))?;
        match (family, ip) {
            ("TCP4", IpAddr::V4(_)) | ("TCP6", IpAddr::V6(_)) => Ok(ip),
            ("TCP4" | "TCP6", _) => Err(invalid("address does not match the protocol")),
            _ => Err(invalid("unknown protocol")),
        }
    };
    let port = |text: &str| -> io::Result<u16> {
        // Decimal digits only: `+143` is not a port.
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("bad port"));
        }
        text.parse().map_err(|_| invalid("bad port"))
    };
    let source = SocketAddr::new(address(source)?, port(source_port)?);
    address(destination)?;
    port(destination_port)?;
    Ok(Some(source))
}

/// Version 2: the signature, version and command, family, length, then addresses and TLVs.
async fn read_v2<R: AsyncRead + Unpin>(reader: &mut R) -> io::Result<Option<SocketAddr>> {
    let mut fixed = [0u8; 16];
    fixed[0] = b'\r';
    reader.read_exact(&mut fixed[1..]).await?;
    if fixed[..12] != V2_SIGNATURE {
        return Err(invalid("bad version 2 signature"));
    }
    let length = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    let mut rest = vec![0u8; length];
    reader.read_exact(&mut rest).await?;
    parse_v2(fixed[12], fixed[13], &rest)
}

fn parse_v2(version_command: u8, family: u8, rest: &[u8]) -> io::Result<Option<SocketAddr>> {
    if version_command >> 4 != 2 {
        return Err(invalid("unsupported version"));
    }
    match version_command & 0x0f {
        // LOCAL: the proxy's own connection (a health check); its endpoints are the real ones.
        0 => return Ok(None),
        1 => {}
        _ => return Err(invalid("unknown command")),
    }
    let too_short = || invalid("addresses cut short");
    match family >> 4 {
        1 => {
            let a = rest.get(..12).ok_or_else(too_short)?;
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            Ok(Some(SocketAddr::new(
                ip.into(),
                u16::from_be_bytes([a[8], a[9]]),
            )))
        }
        2 => {
            let a = rest.get(..36).ok_or_else(too_short)?;
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&a[..16]);
            let ip = Ipv6Addr::from(octets);
            Ok(Some(SocketAddr::new(
                ip.into(),
                u16::from_be_bytes([a[32], a[33]]),
            )))
        }
        // Unspecified or Unix socket: no IP address to hand on.
        0 | 3 => Ok(None),
        _ => Err(invalid("unknown address family")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> (io::Result<Option<SocketAddr>>, Vec<u8>) {
        let mut reader = bytes;
        let header = read_header(&mut reader).await;
        (header, reader.to_vec())
    }

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut bytes = V2_SIGNATURE.to_vec();
        bytes.push(0x20 | command);
        bytes.push(family);
        bytes.extend_from_slice(&u16::try_from(addresses.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(addresses);
        bytes
    }

    #[tokio::test]
    async fn version_1_gives_the_source_and_leaves_the_rest() {
        let (header, rest) =
            read(b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 143\r\na1 NOOP\r\n").await;
        assert_eq!(header.unwrap(), Some("192.0.2.1:56324".parse().unwrap()));
        assert_eq!(rest, b"a1 NOOP\r\n");
        let (header, rest) = read(b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 995\r\nUSER").await;
        assert_eq!(header.unwrap(), Some("[2001:db8::1]:4000".parse().unwrap()));
        assert_eq!(rest, b"USER");
        let (header, rest) = read(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nx").await;
        assert_eq!(header.unwrap(), None);
        assert_eq!(rest, b"x");
    }

    #[tokio::test]
    async fn version_1_refuses_malformed_lines() {
        for bad in [
            &b"PROXY TCP4 192.0.2.1 198.51.100.1 56324\r\n"[..],
            b"PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.1 +1 2\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.1 70000 2\r\n",
            b"PROXY UDP4 192.0.2.1 198.51.100.1 1 2\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.1 1 2 3\r\n",
            b"PROXYTCP4\r\n",
            b"a1 LOGIN user password\r\n",
        ] {
            let (header, _) = read(bad).await;
            let error = header.expect_err(&String::from_utf8_lossy(bad));
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        }
        // A line that never ends stops at the limit instead of reading on.
        let endless = [b"PROXY TCP4 ".as_slice(), &[b'1'; 200]].concat();
        let (header, rest) = read(&endless).await;
        assert_eq!(header.unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(rest.len(), endless.len() - V1_MAX);
        // Cut short: the connection ended inside the header.
        let (header, _) = read(b"PROXY TCP4 192.0.2.1").await;
        assert_eq!(header.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn version_2_gives_the_source_and_skips_tlvs() {
        let mut ipv4 = vec![192, 0, 2, 1, 198, 51, 100, 1];
        ipv4.extend_from_slice(&56324u16.to_be_bytes());
        ipv4.extend_from_slice(&143u16.to_be_bytes());
        // A TLV (type 0x04 NOOP, two bytes) after the addresses.
        ipv4.extend_from_slice(&[0x04, 0x00, 0x02, 0xaa, 0xbb]);
        let bytes = [v2(1, 0x11, &ipv4), b"a1 NOOP\r\n".to_vec()].concat();
        let (header, rest) = read(&bytes).await;
        assert_eq!(header.unwrap(), Some("192.0.2.1:56324".parse().unwrap()));
        assert_eq!(rest, b"a1 NOOP\r\n");

        let source: Ipv6Addr = "2001:db8::7".parse().unwrap();
        let destination: Ipv6Addr = "2001:db8::8".parse().unwrap();
        let ipv6 = [
            source.octets().as_slice(),
            &destination.octets(),
            &4000u16.to_be_bytes(),
            &993u16.to_be_bytes(),
        ]
        .concat();
        let (header, rest) = read(&v2(1, 0x21, &ipv6)).await;
        assert_eq!(header.unwrap(), Some("[2001:db8::7]:4000".parse().unwrap()));
        assert!(rest.is_empty());

        // LOCAL (a health check) and a Unix-socket source: the connection's own address.
        let (header, _) = read(&v2(0, 0x00, &[])).await;
        assert_eq!(header.unwrap(), None);
        let (header, _) = read(&v2(1, 0x31, &[0; 216])).await;
        assert_eq!(header.unwrap(), None);
    }

    #[tokio::test]
    async fn version_2_refuses_malformed_headers() {
        let mut wrong_signature = v2(1, 0x11, &[0; 12]);
        wrong_signature[11] = b'X';
        let mut wrong_version = v2(1, 0x11, &[0; 12]);
        wrong_version[12] = 0x11;
        for bad in [
            wrong_signature,
            wrong_version,
            v2(2, 0x11, &[0; 12]),
            v2(1, 0x11, &[0; 11]),
            v2(1, 0x21, &[0; 12]),
            v2(1, 0x41, &[0; 12]),
        ] {
            let (header, _) = read(&bad).await;
            assert_eq!(
                header.unwrap_err().kind(),
                io::ErrorKind::InvalidData,
                "{bad:?}"
            );
        }
        // The announced length is longer than what came.
        let mut cut = v2(1, 0x11, &[0; 12]);
        cut.truncate(20);
        let (header, _) = read(&cut).await;
        assert_eq!(header.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}

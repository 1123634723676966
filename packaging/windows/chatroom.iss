; Inno Setup script (6.3 or newer) for Chatroom on Windows.
;
; After the PyInstaller bundle (dist\chatroom) and the icon (build\icons\chatroom.ico):
;   python packaging\make_icons.py build\icons
;   pyinstaller --noconfirm --distpath dist --workpath build\pyinstaller packaging\chatroom.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\chatroom.iss
; writes dist\chatroom-<version>-windows-x64-setup.exe. .github/workflows/release.yml
; does all three; it cannot run in this project's CI (no Windows there).
;
; The installer asks whether to install for all users (Program Files, needs
; an administrator) or only for the current user (no administrator needed),
; adds a Start-menu entry and an uninstaller (Settings > Apps). Uninstalling
; leaves the user's settings, history and keyring entries in place.

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z (it is __version__ in chatroom\__init__.py)
#endif
#ifndef BundleDir
  #define BundleDir "..\..\dist\chatroom"
#endif

[Setup]
; The AppId identifies Chatroom across versions: never change it.
AppId={{EE5FEBCB-9625-46D7-BAC7-53F62B3C22D4}
AppName=Chatroom
AppVersion={#AppVersion}
AppVerName=Chatroom {#AppVersion}
AppPublisher=The Chatroom developers
AppPublisherURL=https://github.com/chatroom-app/chatroom
AppSupportURL=https://github.com/chatroom-app/chatroom/issues
VersionInfoVersion={#AppVersion}
; "Install for me only" by default; the dialog offers "for all users".
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
; {autopf}: Program Files for all users, %LOCALAPPDATA%\Programs for one.
DefaultDirName={autopf}\Chatroom
DisableProgramGroupPage=yes
LicenseFile=..\..\LICENSE
SetupIconFile=..\..\build\icons\chatroom.ico
UninstallDisplayIcon={app}\chatroom.exe
UninstallDisplayName=Chatroom
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=chatroom-{#AppVersion}-windows-x64-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; A running Chatroom holds its files open: offer to close it first.
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An update replaces the bundle whole: no module of an older version stays behind.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\Chatroom"; Filename: "{app}\chatroom.exe"; Comment: "Compare the replies of several language models side by side"
Name: "{autodesktop}\Chatroom"; Filename: "{app}\chatroom.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\chatroom.exe"; Description: "{cm:LaunchProgram,Chatroom}"; Flags: nowait postinstall skipifsilent

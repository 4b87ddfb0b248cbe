// The theme's Font Awesome replaces every <i class="fa ..."> with an <svg>. The Play
// widget of the explorers keeps its <i> icons and sets their className when it plays
// or stops; once they are gone it throws, and the frame slider linked to it stops
// moving the clip. "nest" puts the <svg> inside the <i> instead, so the <i> stays.
window.FontAwesomeConfig = { autoReplaceSvg: "nest" };

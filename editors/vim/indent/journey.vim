" Vim indent file for Journey (.journey): one level per open { or (, two spaces by default.
if exists("b:did_indent")
  finish
endif
let b:did_indent = 1

setlocal indentexpr=GetJourneyIndent(v:lnum)
setlocal indentkeys=0{,0},0),!^F,o,O,=and\ ,=or\ 
setlocal nosmartindent nocindent autoindent

let b:undo_indent = "setlocal indentexpr< indentkeys< smartindent< cindent< autoindent<"

if exists("*GetJourneyIndent")
  finish
endif

" A line without its strings and its trailing comment.
function! s:Code(lnum) abort
  let line = substitute(getline(a:lnum), '"\%([^"\\]\|\\.\)*"', '""', 'g')
  return substitute(line, '\s*#.*$', '', '')
endfunction

" A line that starts with `and` or `or` goes on with the condition above it.
function! s:Continues(lnum) abort
  return getline(a:lnum) =~ '^\s*\%(and\|or\)\>'
endfunction

function! GetJourneyIndent(lnum) abort
  let prev = prevnonblank(a:lnum - 1)
  if prev == 0
    return 0
  endif
  " continuation lines sit one level in from the line they go on from; the line after them
  " is measured from that line
  while s:Continues(prev) && prevnonblank(prev - 1) > 0
    let prev = prevnonblank(prev - 1)
  endwhile
  if s:Continues(a:lnum)
    return indent(prev) + shiftwidth()
  endif
  " what the previous line left open (a closer that starts it was counted on that line)
  let code = substitute(s:Code(prev), '^\s*[})]', '', '')
  let net = len(substitute(code, '[^{(]', '', 'g')) - len(substitute(code, '[^})]', '', 'g'))
  let ind = indent(prev) + net * shiftwidth()
  " a closing brace or parenthesis that starts the line: one level out
  if getline(a:lnum) =~ '^\s*[})]'
    let ind -= shiftwidth()
  endif
  return ind < 0 ? 0 : ind
endfunction
